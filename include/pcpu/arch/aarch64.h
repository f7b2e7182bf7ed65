/* SPDX-License-Identifier: MIT */
/*
 * pcpu/arch/aarch64.h - rseq critical sections for AArch64.
 * Included by pcpu/ops.h only; never include it directly.
 *
 * The same shape as on x86-64: store the descriptor address in
 * rseq->rseq_cs, read rseq->cpu_id, compare with pcpu_rseq_limit, compute
 * the unit's address, load, and commit with one store.  The abort handler
 * in __rseq_failure is preceded by the signature glibc registers on
 * AArch64 (0xd428bc00, a brk instruction) and branches back to C.
 */
#ifndef PCPU_ARCH_AARCH64_H
#define PCPU_ARCH_AARCH64_H

#ifndef PCPU_OPS_H
#error "include <pcpu/ops.h>, not this file"
#endif

#ifdef PCPU_INJECT
#define __PCPU_INJECT_ASM      \
	"ldr w11, %[inj]\n\t"  \
	"7:\n\t"               \
	"cbz w11, 8f\n\t"      \
	"yield\n\t"            \
	"sub w11, w11, #1\n\t" \
	"b 7b\n\t"             \
	"8:\n\t"
#else
#define __PCPU_INJECT_ASM ""
#endif

#ifdef PCPU_RSEQ_RECHECK
#define __PCPU_RECHECK_ASM                         \
	"ldr w11, [%[rs], #" __PCPU_CPU_ID "]\n\t" \
	"cmp w11, w10\n\t"                         \
	"b.eq 6f\n\t"                              \
	"brk #0x1\n\t"                             \
	"6:\n\t"
#else
#define __PCPU_RECHECK_ASM ""
#endif

#define __PCPU_CS_ENTER                            \
	__PCPU_RSEQ_CS_DESC                        \
	"adrp x9, 3b\n\t"                          \
	"add x9, x9, :lo12:3b\n\t"                 \
	"str x9, [%[rs], #" __PCPU_RSEQ_CS "]\n\t" \
	"1:\n\t"                                   \
	"ldr w10, [%[rs], #" __PCPU_CPU_ID "]\n\t" \
	"ldr w11, %[limit]\n\t"                    \
	"cmp w10, w11\n\t"                         \
	"b.hs %l[slow]\n\t"

#define __PCPU_CS_BEGIN             \
	__PCPU_CS_ENTER             \
	"add x9, x10, #1\n\t"       \
	"mul x9, x9, %[stride]\n\t" \
	"add x9, x9, %[ptr]\n\t" __PCPU_INJECT_ASM __PCPU_RECHECK_ASM

#define __PCPU_CS_END                             \
	"2:\n\t"                                  \
	".pushsection __rseq_failure, \"ax\"\n\t" \
	".inst 0xd428bc00\n\t"                    \
	"4:\n\t"                                  \
	"b %l[abort]\n\t"                         \
	".popsection\n\t"

#define __PCPU_CS_IN(n)                                           \
	[rs] "r"(pcpu_rseq_area()), [limit] "m"(pcpu_rseq_limit), \
		[stride] "r"(pcpu_unit_stride),                   \
		[ptr] "r"(ptr)__PCPU_INJECT_IN(n)

#define __PCPU_CS_CLOBBER "memory", "cc", "x9", "x10", "x11", "x12"

/*
 * Operations for N-byte objects of type T: LD/ST the sized load and store,
 * R the scratch register (w12 or x12), VT the operand type (zero-extended
 * into a w or x register, modifier M).  Results leave through memory.
 */
#define __PCPU_A64_OPS(N, T, LD, ST, R, VT, M)                                 \
	static inline uint64_t __pcpu_write_##N(void *ptr, uint64_t v)         \
	{                                                                      \
		VT val = (T)v;                                                 \
		__PCPU_RSEQ_OP(0, pcpu_op_slow(ptr, N, PCPU_OP_WRITE, v, 0),   \
			       __asm__ __volatile__ goto(                      \
				       __PCPU_CS_BEGIN ST                      \
				       " %" M "[v], [x9]\n\t" __PCPU_CS_END    \
				       :                                       \
				       : __PCPU_CS_IN(0), [v] "r"(val)         \
				       : __PCPU_CS_CLOBBER                     \
				       : abort, slow));                        \
	}                                                                      \
	static inline uint64_t __pcpu_add_##N(void *ptr, uint64_t v)           \
	{                                                                      \
		VT val = (T)v;                                                 \
		__PCPU_RSEQ_OP(0, pcpu_op_slow(ptr, N, PCPU_OP_ADD, v, 0),     \
			       __asm__ __volatile__ goto(                      \
				       __PCPU_CS_BEGIN LD                      \
				       " " R ", [x9]\n\t"                      \
				       "add " R ", " R ", %" M "[v]\n\t" ST    \
				       " " R ", [x9]\n\t" __PCPU_CS_END        \
				       :                                       \
				       : __PCPU_CS_IN(1), [v] "r"(val)         \
				       : __PCPU_CS_CLOBBER                     \
				       : abort, slow));                        \
	}                                                                      \
	static inline uint64_t __pcpu_add_return_##N(void *ptr, uint64_t v)    \
	{                                                                      \
		VT val = (T)v;                                                 \
		T res;                                                         \
		__PCPU_RSEQ_OP(res,                                            \
			       pcpu_op_slow(ptr, N, PCPU_OP_ADD_RETURN, v, 0), \
			       __asm__ __volatile__ goto(                      \
				       __PCPU_CS_BEGIN LD                      \
				       " " R ", [x9]\n\t"                      \
				       "add " R ", " R ", %" M "[v]\n\t" ST    \
				       " " R ", %[res]\n\t" ST " " R           \
				       ", [x9]\n\t" __PCPU_CS_END              \
				       :                                       \
				       : __PCPU_CS_IN(2), [v] "r"(val),        \
					 [res] "m"(res)                        \
				       : __PCPU_CS_CLOBBER                     \
				       : abort, slow));                        \
	}                                                                      \
	static inline uint64_t __pcpu_xchg_##N(void *ptr, uint64_t v)          \
	{                                                                      \
		VT val = (T)v;                                                 \
		T old;                                                         \
		__PCPU_RSEQ_OP(old, pcpu_op_slow(ptr, N, PCPU_OP_XCHG, v, 0),  \
			       __asm__ __volatile__ goto(                      \
				       __PCPU_CS_BEGIN LD                      \
				       " " R ", [x9]\n\t" ST " " R             \
				       ", %[old]\n\t" ST " %" M                \
				       "[v], [x9]\n\t" __PCPU_CS_END           \
				       :                                       \
				       : __PCPU_CS_IN(3), [v] "r"(val),        \
					 [old] "m"(old)                        \
				       : __PCPU_CS_CLOBBER                     \
				       : abort, slow));                        \
	}                                                                      \
	static inline uint64_t __pcpu_cmpxchg_##N(void *ptr, uint64_t o,       \
						  uint64_t v)                  \
	{                                                                      \
		VT val = (T)v, expect = (T)o;                                  \
		T old;                                                         \
		__PCPU_RSEQ_OP(                                                \
			old, pcpu_op_slow(ptr, N, PCPU_OP_CMPXCHG, v, o),      \
			__asm__ __volatile__ goto(                             \
				__PCPU_CS_BEGIN LD                             \
				" " R ", [x9]\n\t" ST " " R ", %[old]\n\t"     \
				"cmp " R ", %" M "[expect]\n\t"                \
				"b.ne 2f\n\t" ST " %" M                        \
				"[v], [x9]\n\t" __PCPU_CS_END                  \
				:                                              \
				: __PCPU_CS_IN(4), [v] "r"(val),               \
				  [expect] "r"(expect), [old] "m"(old)         \
				: __PCPU_CS_CLOBBER                            \
				: abort, slow));                               \
	}

__PCPU_A64_OPS(1, uint8_t, "ldrb", "strb", "w12", uint32_t, "w")
__PCPU_A64_OPS(2, uint16_t, "ldrh", "strh", "w12", uint32_t, "w")
__PCPU_A64_OPS(4, uint32_t, "ldr", "str", "w12", uint32_t, "w")
__PCPU_A64_OPS(8, uint64_t, "ldr", "str", "x12", uint64_t, "x")

/* See the x86-64 version: add to the unit of the pointer in *@word
 * unless a @mask bit is set, with *@word read inside the section. */
static inline bool __pcpu_add_indirect(const uintptr_t *word, uintptr_t mask,
				       uint64_t v)
{
	__PCPU_RSEQ_OP(true, false,
		       __asm__ __volatile__ goto(
			       __PCPU_CS_ENTER "ldr x12, [%[word]]\n\t"
					       "tst x12, %[mask]\n\t"
					       "b.ne %l[slow]\n\t"
					       "add x9, x10, #1\n\t"
					       "mul x9, x9, %[stride]\n\t"
					       "add x9, x9, x12\n\t"
					       "ldr x12, [x9]\n\t"
					       "add x12, x12, %[v]\n\t"
					       "str x12, [x9]\n\t" __PCPU_CS_END
			       :
			       : [rs] "r"(pcpu_rseq_area()),
				 [limit] "m"(pcpu_rseq_limit),
				 [stride] "r"(pcpu_unit_stride),
				 [word] "r"(word), [mask] "r"(mask), [v] "r"(v)
			       : __PCPU_CS_CLOBBER
			       : abort, slow));
}

/* The body of __pcpu_add_return_at() (pcpu/ops.h), unit address in x9. */
#define __PCPU_ADD_RETURN_AT_ASM \
	"ldr x12, [x9]\n\t"      \
	"add x12, x12, %[v]\n\t" \
	"str x12, %[res]\n\t"    \
	"str x9, %[at]\n\t"      \
	"str x12, [x9]\n\t"

#endif /* PCPU_ARCH_AARCH64_H */
