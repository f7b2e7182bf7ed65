/* SPDX-License-Identifier: MIT */
/*
 * pcpu/arch/aarch64.h - rseq critical sections for AArch64.
 * Included by pcpu/ops.h only; never include it directly.
 *
 * The same shape as on x86-64: store the descriptor address in
 * rseq->rseq_cs, compare rseq->cpu_id with pcpu_rseq_limit, read the field
 * at pcpu_rseq_index (cpu_id, or mm_cid) and compare it too, compute
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
	"ldr w11, [%[rs], %[ix]]\n\t"              \
	"cmp w11, w10\n\t"                         \
	"b.eq 6f\n\t"                              \
	"brk #0x1\n\t"                             \
	"6:\n\t"
#else
#define __PCPU_RECHECK_ASM ""
#endif

/* cpu_id is checked in both index modes: negative without registration,
 * when the kernel leaves mm_cid at 0. */
#define __PCPU_CS_ENTER                            \
	__PCPU_RSEQ_CS_DESC                        \
	"adrp x9, 3b\n\t"                          \
	"add x9, x9, :lo12:3b\n\t"                 \
	"str x9, [%[rs], #" __PCPU_RSEQ_CS "]\n\t" \
	"1:\n\t"                                   \
	"ldr w10, [%[rs], #" __PCPU_CPU_ID "]\n\t" \
	"ldr w11, %[limit]\n\t"                    \
	"cmp w10, w11\n\t"                         \
	"b.hs %l[slow]\n\t"                        \
	"ldr w10, [%[rs], %[ix]]\n\t"              \
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
	".inst " __PCPU_SIG "\n\t"                \
	"4:\n\t"                                  \
	"b %l[abort]\n\t"                         \
	".popsection\n\t"

/* Inputs every critical section uses; __PCPU_CS_IN adds the object. */
#define __PCPU_CS_COMMON_IN                                       \
	[rs] "r"(__pcpu_rseq_area()), [ix] "r"(__pcpu_rseq_index()),     \
		[limit] "m"(*__pcpu_rseq_limit()),          \
		[stride] "r"(__pcpu_unit_stride())
#define __PCPU_CS_IN(n) __PCPU_CS_COMMON_IN, [ptr] "r"(ptr)__PCPU_INJECT_IN(n)

#define __PCPU_CS_CLOBBER "memory", "cc", "x9", "x10", "x11", "x12"

/*
 * The operations' instructions, for the C skeleton of pcpu/ops.h: N-byte
 * objects; the unit's address is in x9, the scratch register is w12 (x12
 * for 8 bytes), a value operand is zero-extended into a w or x register;
 * the last instruction is the commit.  Each comment is the operation in C
 * (p = the unit's copy).
 */
/* clang-format off */
#define __PCPU_LD_1 "ldrb"
#define __PCPU_LD_2 "ldrh"
#define __PCPU_LD_4 "ldr"
#define __PCPU_LD_8 "ldr"
#define __PCPU_ST_1 "strb"
#define __PCPU_ST_2 "strh"
#define __PCPU_ST_4 "str"
#define __PCPU_ST_8 "str"
#define __PCPU_REG_1 "w12"
#define __PCPU_REG_2 "w12"
#define __PCPU_REG_4 "w12"
#define __PCPU_REG_8 "x12"
#define __PCPU_MOD_1 "w"
#define __PCPU_MOD_2 "w"
#define __PCPU_MOD_4 "w"
#define __PCPU_MOD_8 "x"
/* the operand type of a value given in a register, and its constraint */
#define __PCPU_VC_1 "r"
#define __PCPU_VC_2 "r"
#define __PCPU_VC_4 "r"
#define __PCPU_VC_8 "r"
#define __PCPU_VT_1 uint32_t
#define __PCPU_VT_2 uint32_t
#define __PCPU_VT_4 uint32_t
#define __PCPU_VT_8 uint64_t

/* *p = v */
#define __PCPU_ASM_WRITE(N) \
	__PCPU_ST_##N " %" __PCPU_MOD_##N "[v], [x9]\n\t"

/* r = *p + v; *p = r */
#define __PCPU_ASM_ADD(N) \
	__PCPU_LD_##N " " __PCPU_REG_##N ", [x9]\n\t" \
	"add " __PCPU_REG_##N ", " __PCPU_REG_##N ", %" __PCPU_MOD_##N "[v]\n\t" \
	__PCPU_ST_##N " " __PCPU_REG_##N ", [x9]\n\t"

/* r = *p + v; res = r; *p = r */
#define __PCPU_ASM_ADD_RETURN(N) \
	__PCPU_LD_##N " " __PCPU_REG_##N ", [x9]\n\t" \
	"add " __PCPU_REG_##N ", " __PCPU_REG_##N ", %" __PCPU_MOD_##N "[v]\n\t" \
	__PCPU_ST_##N " " __PCPU_REG_##N ", %[res]\n\t" \
	__PCPU_ST_##N " " __PCPU_REG_##N ", [x9]\n\t"

/* old = *p; *p = v */
#define __PCPU_ASM_XCHG(N) \
	__PCPU_LD_##N " " __PCPU_REG_##N ", [x9]\n\t" \
	__PCPU_ST_##N " " __PCPU_REG_##N ", %[old]\n\t" \
	__PCPU_ST_##N " %" __PCPU_MOD_##N "[v], [x9]\n\t"

/* old = *p; if (old == expect) *p = v */
#define __PCPU_ASM_CMPXCHG(N) \
	__PCPU_LD_##N " " __PCPU_REG_##N ", [x9]\n\t" \
	__PCPU_ST_##N " " __PCPU_REG_##N ", %[old]\n\t" \
	"cmp " __PCPU_REG_##N ", %" __PCPU_MOD_##N "[expect]\n\t" \
	"b.ne 2f\n\t" \
	__PCPU_ST_##N " %" __PCPU_MOD_##N "[v], [x9]\n\t"

/* after __PCPU_CS_ENTER: q = *word; if (q & mask) leave for the slow
 * path; p = q + (cpu + 1) * stride; *p += v */
#define __PCPU_ASM_ADD_INDIRECT \
	"ldr x12, [%[word]]\n\t" \
	"tst x12, %[mask]\n\t" \
	"b.ne %l[slow]\n\t" \
	"add x9, x10, #1\n\t" \
	"mul x9, x9, %[stride]\n\t" \
	"add x9, x9, x12\n\t" \
	__PCPU_INJECT_ASM \
	"ldr x12, [x9]\n\t" \
	"add x12, x12, %[v]\n\t" \
	"str x12, [x9]\n\t"

/* r = *p + v; res = r; at = p; *p = r (8 bytes) */
#define __PCPU_ADD_RETURN_AT_ASM \
	"ldr x12, [x9]\n\t" \
	"add x12, x12, %[v]\n\t" \
	"str x12, %[res]\n\t" \
	"str x9, %[at]\n\t" \
	"str x12, [x9]\n\t"
/* clang-format on */

#endif /* PCPU_ARCH_AARCH64_H */
