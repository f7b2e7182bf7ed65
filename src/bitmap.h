/* SPDX-License-Identifier: MIT */
/*
 * bitmap.h - the word-at-a-time bitmap helpers the allocator is built on.
 *
 * Bit i lives in word i / BITS_PER_LONG at position i % BITS_PER_LONG.
 * Every "find" helper returns @size when nothing is found, like the
 * kernel's find_next_bit() family.
 */
#ifndef PCPU_BITMAP_H
#define PCPU_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define BITS_PER_LONG ((int)(sizeof(unsigned long) * 8))
#define BITS_TO_LONGS(n) (((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define BIT_WORD(n) ((n) / BITS_PER_LONG)
#define BIT_MASK(n) (1UL << ((n) % BITS_PER_LONG))
/* Bits [start % BITS_PER_LONG, BITS_PER_LONG) of a word. */
#define BITMAP_FIRST_WORD_MASK(start) (~0UL << ((start) & (BITS_PER_LONG - 1)))
/* Bits [0, nbits % BITS_PER_LONG) of a word; all bits when that is 0. */
#define BITMAP_LAST_WORD_MASK(nbits) (~0UL >> (-(nbits) & (BITS_PER_LONG - 1)))

static inline bool test_bit(int nr, const unsigned long *map)
{
	return (map[BIT_WORD(nr)] & BIT_MASK(nr)) != 0;
}

static inline void set_bit(int nr, unsigned long *map)
{
	map[BIT_WORD(nr)] |= BIT_MASK(nr);
}

/* Shared walker: the first bit in [start, size) whose value is !invert. */
static inline int pcpu_find_bit(const unsigned long *map, int size, int start,
				unsigned long invert)
{
	unsigned long word;

	if (start >= size)
		return size;
	word = (map[BIT_WORD(start)] ^ invert) & BITMAP_FIRST_WORD_MASK(start);
	start &= ~(BITS_PER_LONG - 1);
	while (!word) {
		start += BITS_PER_LONG;
		if (start >= size)
			return size;
		word = map[BIT_WORD(start)] ^ invert;
	}
	start += __builtin_ctzl(word);
	return start < size ? start : size;
}

static inline int find_next_bit(const unsigned long *map, int size, int start)
{
	return pcpu_find_bit(map, size, start, 0UL);
}

static inline int find_next_zero_bit(const unsigned long *map, int size,
				     int start)
{
	return pcpu_find_bit(map, size, start, ~0UL);
}

/* The last set bit in [lo, end), or -1. */
static inline int find_prev_bit_from(const unsigned long *map, int lo, int end)
{
	int idx, lo_idx = BIT_WORD(lo), bit;
	unsigned long word;

	if (end <= lo)
		return -1;
	idx = BIT_WORD(end - 1);
	word = map[idx] & BITMAP_LAST_WORD_MASK(end);
	while (!word) {
		if (--idx < lo_idx)
			return -1;
		word = map[idx];
	}
	bit = idx * BITS_PER_LONG + BITS_PER_LONG - 1 - __builtin_clzl(word);
	return bit >= lo ? bit : -1;
}

/* Set (@set) or clear @len bits from @start; constant @set folds away. */
static inline void __bitmap_update(unsigned long *map, int start, int len,
				   bool set)
{
	unsigned long *p = map + BIT_WORD(start);
	const int size = start + len;
	int bits = BITS_PER_LONG - (start % BITS_PER_LONG);
	unsigned long mask = BITMAP_FIRST_WORD_MASK(start);

	while (len - bits >= 0) {
		*p = set ? *p | mask : *p & ~mask;
		p++;
		len -= bits;
		bits = BITS_PER_LONG;
		mask = ~0UL;
	}
	if (len) {
		mask &= BITMAP_LAST_WORD_MASK(size);
		*p = set ? *p | mask : *p & ~mask;
	}
}

static inline void bitmap_set(unsigned long *map, int start, int len)
{
	__bitmap_update(map, start, len, true);
}

static inline void bitmap_clear(unsigned long *map, int start, int len)
{
	__bitmap_update(map, start, len, false);
}

/* Set bits @start, @start + @step, ... (@n of them): one store per word,
 * the bits of a word gathered in a register first. */
static inline void bitmap_set_every(unsigned long *map, int start, int step,
				    int n)
{
	unsigned long acc = 0;
	int w = BIT_WORD(start);

	for (int i = 0, b = start; i < n; i++, b += step) {
		if (BIT_WORD(b) != w) {
			map[w] |= acc;
			acc = 0;
			w = BIT_WORD(b);
		}
		acc |= BIT_MASK(b);
	}
	if (n > 0)
		map[w] |= acc;
}

/* Population count without relying on a POPCNT instruction being there
 * (the baseline x86-64 has none, and the library call is slow). */
static inline int pcpu_hweight_long(unsigned long w)
{
	w = w - ((w >> 1) & 0x5555555555555555UL);
	w = (w & 0x3333333333333333UL) + ((w >> 2) & 0x3333333333333333UL);
	w = (w + (w >> 4)) & 0x0f0f0f0f0f0f0f0fUL;
	return (int)((w * 0x0101010101010101UL) >> 56);
}

/* Number of set bits in [start, end). */
static inline int bitmap_weight_range(const unsigned long *map, int start,
				      int end)
{
	int n = 0;

	while (start < end) {
		int w = BIT_WORD(start);
		unsigned long word = map[w] & BITMAP_FIRST_WORD_MASK(start);
		int next = (w + 1) * BITS_PER_LONG;

		if (next > end) {
			word &= BITMAP_LAST_WORD_MASK(end);
			next = end;
		}
		n += pcpu_hweight_long(word);
		start = next;
	}
	return n;
}

/*
 * pcpu_for_each_run - iterate over the runs of set (@zero false) or clear
 * (@zero true) bits [rs, re) inside [start, end).
 */
#define pcpu_for_each_run(map, start, end, rs, re, zero)                    \
	for ((rs) = pcpu_find_bit(map, end, start, (zero) ? ~0UL : 0UL),    \
	    (re) = pcpu_find_bit(map, end, (rs) + 1, (zero) ? 0UL : ~0UL);  \
	     (rs) < (end);                                                  \
	     (rs) = pcpu_find_bit(map, end, (re) + 1, (zero) ? ~0UL : 0UL), \
	    (re) = pcpu_find_bit(map, end, (rs) + 1, (zero) ? 0UL : ~0UL))

#endif /* PCPU_BITMAP_H */
