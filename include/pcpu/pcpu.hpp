/* SPDX-License-Identifier: MIT */
/*
 * pcpu/pcpu.hpp - libpcpu for C++17: typed allocation, an owner that frees,
 * a per-CPU counter object.  Optional; the C headers work in C++ as they
 * are.
 *
 *	pcpu::unique<std::uint64_t> hits;	// one u64 per CPU, zero
 *	pcpu_inc(hits.get());			// this-CPU add, as in C
 *	std::uint64_t total = hits.sum();	// units with pages only
 *	pcpu::counter served;			// struct pcpu_counter
 *	served.add(1);
 *	std::int64_t exact = served.sum();
 *
 * Allocation failures throw std::bad_alloc (std::invalid_argument for a
 * size the allocator refuses); nothing else throws.
 */
#ifndef PCPU_PCPU_HPP
#define PCPU_PCPU_HPP

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "../pcpu.h"
#include "counter.h"
#include "ops.h"
#include "read.h"

namespace pcpu
{

/* One object of type T (n of them with alloc_array()) per CPU, zero in
 * every unit; nullptr with errno set on failure, as pcpu_alloc(). */
template <class T> inline T *alloc() noexcept
{
	return static_cast<T *>(pcpu_alloc(sizeof(T), alignof(T)));
}

template <class T> inline T *alloc_array(std::size_t n) noexcept
{
	return static_cast<T *>(__pcpu_alloc_array(n, sizeof(T), alignof(T)));
}

namespace detail
{
/* Throw for a failed allocation: EINVAL as invalid_argument, else
 * bad_alloc. */
[[noreturn]] inline void alloc_failed()
{
	if (errno == EINVAL)
		throw std::invalid_argument("pcpu_alloc: size or alignment");
	throw std::bad_alloc();
}
} // namespace detail

/*
 * The owner of one per-CPU object (or array) of T: allocated by the
 * constructor, freed by the destructor; movable, not copyable.  T must be
 * trivially constructible and destructible: per-CPU memory starts zero and
 * no constructor or destructor runs per unit.
 */
template <class T> class unique
{
	static_assert(std::is_trivially_default_constructible<T>::value &&
			      std::is_trivially_destructible<T>::value,
		      "per-CPU objects start zero: T must be trivial");

      public:
	explicit unique(std::size_t n = 1)
	    : p_(n == 1 ? alloc<T>() : alloc_array<T>(n))
	{
		if (!p_)
			detail::alloc_failed();
	}
	~unique()
	{
		pcpu_free(p_);
	}
	unique(const unique &) = delete;
	unique &operator=(const unique &) = delete;
	unique(unique &&o) noexcept : p_(std::exchange(o.p_, nullptr))
	{
	}
	unique &operator=(unique &&o) noexcept
	{
		if (this != &o) {
			pcpu_free(p_);
			p_ = std::exchange(o.p_, nullptr);
		}
		return *this;
	}

	/* the per-CPU pointer, for the this-CPU operations (pcpu_add()...) */
	T *get() const noexcept
	{
		return p_;
	}
	/* unit @unit's copy (of an array: its first element; index it with
	 * copy()) */
	T &on(unsigned int unit) const noexcept
	{
		return *pcpu_ptr(p_, unit);
	}
	/* unit @unit's copy as a pointer: copy(u)[i] for an array */
	T *copy(unsigned int unit) const noexcept
	{
		return pcpu_ptr(p_, unit);
	}
	/* the sum of the copies of an integer T (pcpu_sum()) */
	T sum() const
	{
		return pcpu_sum(p_);
	}
	/* give the object up without freeing it */
	T *release() noexcept
	{
		return std::exchange(p_, nullptr);
	}

      private:
	T *p_;
};

/*
 * A struct pcpu_counter: an exact 64-bit count that threads add to
 * without sharing a cache line.  Neither copyable nor movable (the
 * counter's memory is per CPU and its state is found by address).
 */
class counter
{
      public:
	explicit counter(std::int64_t initial = 0)
	{
		if (pcpu_counter_init(&c_, initial))
			throw std::bad_alloc();
	}
	~counter()
	{
		pcpu_counter_destroy(&c_);
	}
	counter(const counter &) = delete;
	counter &operator=(const counter &) = delete;

	void add(std::int64_t v) noexcept
	{
		pcpu_counter_add(&c_, v);
	}
	counter &operator++() noexcept
	{
		pcpu_counter_inc(&c_);
		return *this;
	}
	counter &operator+=(std::int64_t v) noexcept
	{
		add(v);
		return *this;
	}
	/* approximate, cheap: within the batch times the units */
	std::int64_t read() const noexcept
	{
		return pcpu_counter_read(&c_);
	}
	/* exact: folds every unit with pages */
	std::int64_t sum() noexcept
	{
		return pcpu_counter_sum(&c_);
	}
	void set(std::int64_t v) noexcept
	{
		pcpu_counter_set(&c_, v);
	}
	struct pcpu_counter *native() noexcept
	{
		return &c_;
	}

      private:
	struct pcpu_counter c_;
};

} // namespace pcpu

#endif /* PCPU_PCPU_HPP */
