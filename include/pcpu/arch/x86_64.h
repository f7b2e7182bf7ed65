/* SPDX-License-Identifier: MIT */
/*
 * pcpu/arch/x86_64.h - rseq critical sections for x86-64.
 * Included by pcpu/ops.h only; never include it directly.
 *
 * Every operation is one critical section on the rseq area of the thread
 * (%fs:__rseq_offset):
 *
 *	store the descriptor's address in rseq->rseq_cs
 *   1:	cpu = rseq->cpu_id; if (cpu >= pcpu_rseq_limit) leave for the slow path
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
	"cmpl %%fs:" __PCPU_CPU_ID "(%[rs]), %%edx\n\t" \
	"je 6f\n\t"                                     \
	"ud2\n\t"                                       \
	"6:\n\t"
#else
#define __PCPU_RECHECK_ASM ""
#endif

/* Enter the critical section; %edx = CPU; leave for slow if no unit. */
#define __PCPU_CS_ENTER                                  \
	__PCPU_RSEQ_CS_DESC                              \
	"leaq 3b(%%rip), %%rax\n\t"                      \
	"movq %%rax, %%fs:" __PCPU_RSEQ_CS "(%[rs])\n\t" \
	"1:\n\t"                                         \
	"movl %%fs:" __PCPU_CPU_ID "(%[rs]), %%edx\n\t"  \
	"cmpl %[limit], %%edx\n\t"                       \
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
	".long 0x53053053\n\t"                    \
	"4:\n\t"                                  \
	"jmp %l[abort]\n\t"                       \
	".popsection\n\t"

#define __PCPU_CS_IN(n)                                        \
	[rs] "r"(__rseq_offset), [limit] "m"(pcpu_rseq_limit), \
		[stride] "m"(pcpu_unit_stride),                \
		[ptr] "r"(ptr)__PCPU_INJECT_IN(n)

#define __PCPU_CS_CLOBBER "memory", "cc", "rax", "rdx", "rcx"

/*
 * One set of operations for objects of N bytes, type T, suffix S, scratch
 * register R (a part of %rcx).  Results leave the critical section through
 * memory, stored before the commit (a restart stores again): an asm goto
 * with register outputs has no defined value on its abort edge, and some
 * compilers mishandle that.
 */
#define __PCPU_X86_OPS(N, T, S, R)                                            \
	static inline uint64_t __pcpu_write_##N(void *ptr, uint64_t v)        \
	{                                                                     \
		T val = (T)v;                                                 \
		__PCPU_RSEQ_OP(0, pcpu_op_slow(ptr, N, PCPU_OP_WRITE, v, 0),  \
			       __asm__ __volatile__ goto(                     \
				       __PCPU_CS_BEGIN                        \
				       "mov" S                                \
				       " %[v], (%%rax)\n\t" __PCPU_CS_END     \
				       :                                      \
				       : __PCPU_CS_IN(0), [v] "r"(val)        \
				       : __PCPU_CS_CLOBBER                    \
				       : abort, slow));                       \
	}                                                                     \
	static inline uint64_t __pcpu_add_##N(void *ptr, uint64_t v)          \
	{                                                                     \
		T val = (T)v;                                                 \
		__PCPU_RSEQ_OP(0, pcpu_op_slow(ptr, N, PCPU_OP_ADD, v, 0),    \
			       __asm__ __volatile__ goto(                     \
				       __PCPU_CS_BEGIN                        \
				       "add" S                                \
				       " %[v], (%%rax)\n\t" __PCPU_CS_END     \
				       :                                      \
				       : __PCPU_CS_IN(1), [v] "r"(val)        \
				       : __PCPU_CS_CLOBBER                    \
				       : abort, slow));                       \
	}                                                                     \
	static inline uint64_t __pcpu_add_return_##N(void *ptr, uint64_t v)   \
	{                                                                     \
		T val = (T)v, res;                                            \
		__PCPU_RSEQ_OP(                                               \
			res, pcpu_op_slow(ptr, N, PCPU_OP_ADD_RETURN, v, 0),  \
			__asm__ __volatile__ goto(                            \
				__PCPU_CS_BEGIN                               \
				"mov" S " (%%rax), %%" R "\n\t"               \
				"add" S " %[v], %%" R "\n\t"                  \
				"mov" S " %%" R ", %[res]\n\t"                \
				"mov" S " %%" R ", (%%rax)\n\t" __PCPU_CS_END \
				:                                             \
				: __PCPU_CS_IN(2), [v] "r"(val),              \
				  [res] "m"(res)                              \
				: __PCPU_CS_CLOBBER                           \
				: abort, slow));                              \
	}                                                                     \
	static inline uint64_t __pcpu_xchg_##N(void *ptr, uint64_t v)         \
	{                                                                     \
		T val = (T)v, old;                                            \
		__PCPU_RSEQ_OP(old, pcpu_op_slow(ptr, N, PCPU_OP_XCHG, v, 0), \
			       __asm__ __volatile__ goto(                     \
				       __PCPU_CS_BEGIN                        \
				       "mov" S " (%%rax), %%" R "\n\t"        \
				       "mov" S " %%" R ", %[old]\n\t"         \
				       "mov" S                                \
				       " %[v], (%%rax)\n\t" __PCPU_CS_END     \
				       :                                      \
				       : __PCPU_CS_IN(3), [v] "r"(val),       \
					 [old] "m"(old)                       \
				       : __PCPU_CS_CLOBBER                    \
				       : abort, slow));                       \
	}                                                                     \
	static inline uint64_t __pcpu_cmpxchg_##N(void *ptr, uint64_t o,      \
						  uint64_t v)                 \
	{                                                                     \
		T val = (T)v, expect = (T)o, old;                             \
		__PCPU_RSEQ_OP(                                               \
			old, pcpu_op_slow(ptr, N, PCPU_OP_CMPXCHG, v, o),     \
			__asm__ __volatile__ goto(                            \
				__PCPU_CS_BEGIN                               \
				"mov" S " (%%rax), %%" R "\n\t"               \
				"mov" S " %%" R ", %[old]\n\t"                \
				"cmp" S " %[expect], %%" R "\n\t"             \
				"jne 2f\n\t"                                  \
				"mov" S " %[v], (%%rax)\n\t" __PCPU_CS_END    \
				:                                             \
				: __PCPU_CS_IN(4), [v] "r"(val),              \
				  [expect] "r"(expect), [old] "m"(old)        \
				: __PCPU_CS_CLOBBER                           \
				: abort, slow));                              \
	}

__PCPU_X86_OPS(1, uint8_t, "b", "cl")
__PCPU_X86_OPS(2, uint16_t, "w", "cx")
__PCPU_X86_OPS(4, uint32_t, "l", "ecx")
__PCPU_X86_OPS(8, uint64_t, "q", "rcx")

/*
 * __pcpu_add_indirect - add @v to the current CPU's copy of the per-CPU
 * pointer stored in *@word, unless *@word has a bit of @mask set.  *@word
 * is read inside the critical section, so a writer that sets a @mask bit
 * and then restarts every critical section (membarrier RSEQ) knows that no
 * add can land on a unit afterwards.  Return: true if added, false if a
 * @mask bit was set or rseq is not in use (the caller takes its atomic
 * path).
 */
static inline bool __pcpu_add_indirect(const uintptr_t *word, uintptr_t mask,
				       uint64_t v)
{
	__PCPU_RSEQ_OP(
		true, false,
		__asm__ __volatile__ goto(
			__PCPU_CS_ENTER
			"movq (%[word]), %%rcx\n\t"
			"testq %[mask], %%rcx\n\t"
			"jnz %l[slow]\n\t"
			"leaq 1(%%rdx), %%rax\n\t"
			"imulq %[stride], %%rax\n\t"
			"addq %%rcx, %%rax\n\t" __PCPU_INJECT_ASM
			"addq %[v], (%%rax)\n\t" __PCPU_CS_END
			:
			: [rs] "r"(__rseq_offset), [limit] "m"(pcpu_rseq_limit),
			  [stride] "m"(pcpu_unit_stride), [word] "r"(word),
			  [mask] "r"(mask), [v] "r"(v)__PCPU_INJECT_IN(5)
			: __PCPU_CS_CLOBBER
			: abort, slow));
}

/* The body of __pcpu_add_return_at() (pcpu/ops.h), unit address in %rax. */
#define __PCPU_ADD_RETURN_AT_ASM  \
	"movq (%%rax), %%rcx\n\t" \
	"addq %[v], %%rcx\n\t"    \
	"movq %%rcx, %[res]\n\t"  \
	"movq %%rax, %[at]\n\t"   \
	"movq %%rcx, (%%rax)\n\t"

#endif /* PCPU_ARCH_X86_64_H */
