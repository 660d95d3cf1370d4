/* The order of a plan's restore steps (restore_order.c). */
#ifndef LUO_AGENT_RESTORE_ORDER_H
#define LUO_AGENT_RESTORE_ORDER_H

#include <stdbool.h>

enum restore_step { STEP_SESSION, STEP_DEVICE, STEP_FILE, STEP_HEARTBEAT, STEP_NONE };

enum restore_step restore_step_of(const char *line);
/* Fills `order` with the indices of `lines` in restore order; returns how many (lines of no step are left out). */
int restore_order(char *const *lines, int n, bool reverse, int *order);

#endif
