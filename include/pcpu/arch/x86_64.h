/* SPDX-License-Identifier: MIT */
/*
 * pcpu/arch/x86_64.h - rseq critical sections for x86-64.
 * Included by pcpu/ops.h only; never include it directly.
 *
 * Every operation is one critical section on the rseq area of the thread
 * (%fs:__rseq_offset):
 *
 *	store the descriptor's address in rseq->rseq_cs
 *   1:	if (rseq->cpu_id >= pcpu_rseq_limit) leave for the slow path
 *	cpu = the field at pcpu_rseq_index (cpu_id again, or mm_cid)
 *	if (cpu >= pcpu_rseq_limit) leave for the slow path
 *	addr = ptr + (cpu + 1) * pcpu_unit_stride
 *	... loads ...
 *	one store to addr: the commit
 *   2:
 *
 * The descriptor (struct rseq_cs) lives in the __rseq_cs section; the
 * abort handler, preceded by the signature glibc registered (0x53053053
 * inside a ud1 instruction), lives in __rseq_failure and jumps back to a C
 * label that retries.  Nothing here writes cpu_id_start or registers rseq.
 */
#ifndef PCPU_ARCH_X86_64_H
#define PCPU_ARCH_X86_64_H

#ifndef PCPU_OPS_H
#error "include <pcpu/ops.h>, not this file"
#endif

#ifdef PCPU_INJECT
/* widen the window between the CPU number read and the commit */
#define __PCPU_INJECT_ASM        \
	"movl %[inj], %%ecx\n\t" \
	"7:\n\t"                 \
	"testl %%ecx, %%ecx\n\t" \
	"jz 8f\n\t"              \
	"pause\n\t"              \
	"decl %%ecx\n\t"         \
	"jmp 7b\n\t"             \
	"8:\n\t"
#else
#define __PCPU_INJECT_ASM ""
#endif

#ifdef PCPU_RSEQ_RECHECK
/* proof build: the CPU cannot have changed before the commit */
#define __PCPU_RECHECK_ASM                              \
	"cmpl %%fs:(%[rs],%[ix]), %%edx\n\t" \
	"je 6f\n\t"                                     \
	"ud2\n\t"                                       \
	"6:\n\t"
#else
#define __PCPU_RECHECK_ASM ""
#endif

/*
 * Enter the critical section; %edx = unit index (the field at
 * pcpu_rseq_index); leave for slow if no unit.  cpu_id is checked in both
 * index modes: it is negative in a thread whose rseq is not registered,
 * whose mm_cid the kernel leaves at 0.  The limit is loaded once into a
 * register and compared there: a compare with the limit in memory, twice,
 * cost 1.5 cycles per operation more (bench "add_floor").
 */
#define __PCPU_CS_ENTER                                        \
	__PCPU_RSEQ_CS_DESC                                    \
	"leaq 3b(%%rip), %%rax\n\t"                            \
	"movq %%rax, %%fs:" __PCPU_RSEQ_CS "(%[rs])\n\t"       \
	"1:\n\t"                                               \
	"movl %[limit], %%ecx\n\t"                             \
	"movl %%fs:" __PCPU_CPU_ID "(%[rs]), %%edx\n\t"        \
	"cmpl %%ecx, %%edx\n\t"                                \
	"jae %l[slow]\n\t"                                     \
	"movl %%fs:(%[rs],%[ix]), %%edx\n\t"                   \
	"cmpl %%ecx, %%edx\n\t"                                \
	"jae %l[slow]\n\t"

#define __PCPU_CS_BEGIN              \
	__PCPU_CS_ENTER              \
	"leaq 1(%%rdx), %%rax\n\t"   \
	"imulq %[stride], %%rax\n\t" \
	"addq %[ptr], %%rax\n\t" __PCPU_INJECT_ASM __PCPU_RECHECK_ASM

#define __PCPU_CS_END                             \
	"2:\n\t"                                  \
	".pushsection __rseq_failure, \"ax\"\n\t" \
	".byte 0x0f, 0xb9, 0x3d\n\t"              \
	".long " __PCPU_SIG "\n\t"                \
	"4:\n\t"                                  \
	"jmp %l[abort]\n\t"                       \
	".popsection\n\t"

/* Inputs every critical section uses; __PCPU_CS_IN adds the object. */
#define __PCPU_CS_COMMON_IN                                    \
	[rs] "r"(__rseq_offset), [ix] "r"(__pcpu_rseq_index()),     \
		[limit] "m"(*__pcpu_rseq_limit()),          \
		[stride] "r"(__pcpu_unit_stride())
#define __PCPU_CS_IN(n) __PCPU_CS_COMMON_IN, [ptr] "r"(ptr)__PCPU_INJECT_IN(n)

#define __PCPU_CS_CLOBBER "memory", "cc", "rax", "rdx", "rcx"

/*
 * The operations' instructions, for the C skeleton of pcpu/ops.h: N-byte
 * objects; the unit's address is in %rax, the scratch register is the
 * N-byte part of %rcx; the last instruction is the commit.  Each comment
 * is the operation in C (p = the unit's copy).
 */
/* clang-format off */
#define __PCPU_SFX_1 "b"
#define __PCPU_SFX_2 "w"
#define __PCPU_SFX_4 "l"
#define __PCPU_SFX_8 "q"
#define __PCPU_REG_1 "cl"
#define __PCPU_REG_2 "cx"
#define __PCPU_REG_4 "ecx"
#define __PCPU_REG_8 "rcx"
/* the operand type of a value, and its constraint: a constant that fits
 * the instruction's immediate is encoded in it (pcpu_add(p, 1) on one
 * copy: 3.0 cycles with $1, 7.7 with a register holding 1, bench
 * add_floor: the CPU forwards the chain of stores to the copy faster) */
#define __PCPU_VC_1 "ir"
#define __PCPU_VC_2 "ir"
#define __PCPU_VC_4 "ir"
#define __PCPU_VC_8 "er"
#define __PCPU_VT_1 uint8_t
#define __PCPU_VT_2 uint16_t
#define __PCPU_VT_4 uint32_t
#define __PCPU_VT_8 uint64_t

/* *p = v */
#define __PCPU_ASM_WRITE(N) \
	"mov" __PCPU_SFX_##N " %[v], (%%rax)\n\t"

/* *p += v */
#define __PCPU_ASM_ADD(N) \
	"add" __PCPU_SFX_##N " %[v], (%%rax)\n\t"

/* r = *p + v; res = r; *p = r */
#define __PCPU_ASM_ADD_RETURN(N) \
	"mov" __PCPU_SFX_##N " (%%rax), %%" __PCPU_REG_##N "\n\t" \
	"add" __PCPU_SFX_##N " %[v], %%" __PCPU_REG_##N "\n\t" \
	"mov" __PCPU_SFX_##N " %%" __PCPU_REG_##N ", %[res]\n\t" \
	"mov" __PCPU_SFX_##N " %%" __PCPU_REG_##N ", (%%rax)\n\t"

/* old = *p; *p = v */
#define __PCPU_ASM_XCHG(N) \
	"mov" __PCPU_SFX_##N " (%%rax), %%" __PCPU_REG_##N "\n\t" \
	"mov" __PCPU_SFX_##N " %%" __PCPU_REG_##N ", %[old]\n\t" \
	"mov" __PCPU_SFX_##N " %[v], (%%rax)\n\t"

/* old = *p; if (old == expect) *p = v */
#define __PCPU_ASM_CMPXCHG(N) \
	"mov" __PCPU_SFX_##N " (%%rax), %%" __PCPU_REG_##N "\n\t" \
	"mov" __PCPU_SFX_##N " %%" __PCPU_REG_##N ", %[old]\n\t" \
	"cmp" __PCPU_SFX_##N " %[expect], %%" __PCPU_REG_##N "\n\t" \
	"jne 2f\n\t" \
	"mov" __PCPU_SFX_##N " %[v], (%%rax)\n\t"

/* after __PCPU_CS_ENTER: q = *word; if (q & mask) leave for the slow
 * path; p = q + (cpu + 1) * stride; *p += v */
#define __PCPU_ASM_ADD_INDIRECT \
	"movq (%[word]), %%rcx\n\t" \
	"testq %[mask], %%rcx\n\t" \
	"jnz %l[slow]\n\t" \
	"leaq 1(%%rdx), %%rax\n\t" \
	"imulq %[stride], %%rax\n\t" \
	"addq %%rcx, %%rax\n\t" \
	__PCPU_INJECT_ASM \
	"addq %[v], (%%rax)\n\t"

/* r = *p + v; res = r; at = p; *p = r (8 bytes) */
#define __PCPU_ADD_RETURN_AT_ASM \
	"movq (%%rax), %%rcx\n\t" \
	"addq %[v], %%rcx\n\t" \
	"movq %%rcx, %[res]\n\t" \
	"movq %%rax, %[at]\n\t" \
	"movq %%rcx, (%%rax)\n\t"
/* clang-format on */

#endif /* PCPU_ARCH_X86_64_H */
