/* Prints the restore order of a plan read from stdin, one line per step: the unit test drives it. */
#include "../restore_order.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	static char buf[1 << 16], *lines[1024];
	int n = 0, order[1024];
	size_t len = fread(buf, 1, sizeof(buf) - 1, stdin);

	buf[len] = 0;
	for (char *save, *l = strtok_r(buf, "\n", &save); l && n < 1024; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	int count = restore_order(lines, n, argc > 1 && !strcmp(argv[1], "reverse"), order);
	for (int i = 0; i < count; i++)
		printf("%s\n", lines[order[i]]);
	return 0;
}
