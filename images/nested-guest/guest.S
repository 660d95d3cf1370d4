/*
 * The nested VM's whole guest: a 64 KiB firmware image, no OS. QEMU maps it
 * at the top of the first MiB and of 4 GiB; the CPU starts at the reset
 * vector at its end. It enters 32-bit protected mode with flat segments and
 * then, forever, makes passes over guest RAM: each pass adds 1 to the first
 * 32-bit word of every 4 KiB page from 1 MiB to RAM_END, counts itself in a
 * 32-bit counter at COUNTER (in RAM too), and writes one '.' to the serial
 * port; every 16th pass a line "LUO-VM pass=<counter> id=<id>" instead.
 *
 * So after any stop, every page's word is the number of passes that reached
 * it: pages below the stopping point hold one more than the rest, and the
 * rest hold the counter (a word, not a byte: lost pages, which read as zeros,
 * can never pass for a count that wrapped).
 * <id> is taken from the TSC once, at reset, and kept in a register only: a
 * VM resumed from its saved device state prints the same id, a fresh boot a
 * new one (and "LUO-VM boot" first).
 *
 * Built with the host's GNU as and ld into a flat binary (see
 * harness/image/nested-guest.ts); RAM_END must match the VM's -m.
 */
	.set	RAM_START, 0x100000
	.set	RAM_END, 0x1000000		/* 16 MiB */
	.set	COUNTER, 0x7000			/* page 7, below RAM_START */
	.set	ROM_BASE, 0xf0000		/* where the first MiB sees this image */
	.set	COM1, 0x3f8
	.set	CODE_SEL, 0x08
	.set	DATA_SEL, 0x10

	.code16
	.text
	.globl	_start
_start:
	cli
	cld
	lgdtl	%cs:gdt_ptr
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$CODE_SEL, $(ROM_BASE + protected)

	.code32
protected:
	movw	$DATA_SEL, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	$COUNTER, %esp			/* a stack is never used; keep it in RAM anyway */
	rdtsc
	movl	%eax, %edi			/* the boot id: lives in a register only */
	movl	$(ROM_BASE + boot_msg), %esi
	call	puts

pass:
	movl	$RAM_START, %ebx
1:	incl	(%ebx)
	addl	$4096, %ebx
	cmpl	$RAM_END, %ebx
	jb	1b
	incl	COUNTER
	movl	COUNTER, %eax
	testl	$15, %eax
	jz	line
	movw	$COM1, %dx
	movb	$'.', %al
	outb	%al, %dx
	jmp	pass

line:
	movl	$(ROM_BASE + pass_msg), %esi
	call	puts
	movl	COUNTER, %eax
	call	puthex
	movl	$(ROM_BASE + id_msg), %esi
	call	puts
	movl	%edi, %eax
	call	puthex
	movw	$COM1, %dx
	movb	$'\n', %al
	outb	%al, %dx
	jmp	pass

/* puts: the NUL-terminated string at %esi to COM1 (clobbers %eax, %edx, %esi). */
puts:
	movw	$COM1, %dx
2:	lodsb
	testb	%al, %al
	jz	3f
	outb	%al, %dx
	jmp	2b
3:	ret

/* puthex: %eax as 8 lower-case hex digits to COM1 (clobbers %ecx, %edx, %ebp). */
puthex:
	movl	%eax, %ebp
	movl	$8, %ecx
	movw	$COM1, %dx
4:	roll	$4, %ebp
	movl	%ebp, %eax
	andl	$15, %eax
	movb	ROM_BASE + hexdigits(%eax), %al
	outb	%al, %dx
	loop	4b
	ret

boot_msg:	.asciz	"\nLUO-VM boot\n"
pass_msg:	.asciz	"\nLUO-VM pass="
id_msg:		.asciz	" id="
hexdigits:	.ascii	"0123456789abcdef"

	.balign	8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff		/* code: base 0, limit 4 GiB, 32-bit, execute/read */
	.quad	0x00cf92000000ffff		/* data: base 0, limit 4 GiB, read/write */
gdt_end:
gdt_ptr:
	.word	gdt_end - gdt - 1
	.long	ROM_BASE + gdt

	/* The reset vector: the CPU's first instruction, 16 bytes below 4 GiB. */
	.code16
	.org	0xfff0
	ljmp	$0xf000, $_start
	.org	0x10000
