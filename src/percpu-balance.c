// SPDX-License-Identifier: MIT
/*
 * percpu-balance.c - the balance thread.
 *
 * The balance work itself (cleaning, reclaim, top-up: pcpu_balance_workfn()
 * in percpu.c) is the allocator's; this file owns the background thread
 * that runs it: started lazily at the first allocation that asks for work
 * (or in a forked child whose parent had one), woken by pcpu_balance_kick(),
 * polling pcpu_g.balance_pending otherwise (pcpu_free() and
 * pcpu_alloc_nowait() schedule work without a system call, so they cannot
 * wake it), and stopped only at teardown.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "percpu-internal.h"

#define PCPU_BALANCE_PERIOD_MS 100
#define PCPU_BALANCE_BUSY_MS 1
#define PCPU_BALANCE_BUSY_POLLS 200

static void *pcpu_balance_thread(void *arg)
{
	int busy_polls = 0;

	(void)arg;
	pthread_mutex_lock(&pcpu_g.balance_lock);
	while (!pcpu_g.balance_stop) {
		struct timespec ts;

		if (!__atomic_load_n(&pcpu_g.balance_pending,
				     __ATOMIC_ACQUIRE)) {
			/* pcpu_free() and pcpu_alloc_nowait() cannot wake us
			 * (no system call): poll, quickly for a while after
			 * work was asked for, slowly when idle */
			long ms = busy_polls > 0 ? PCPU_BALANCE_BUSY_MS
						 : PCPU_BALANCE_PERIOD_MS;

			if (busy_polls > 0)
				busy_polls--;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += ms * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&pcpu_g.balance_cond,
					       &pcpu_g.balance_lock, &ts);
			continue;
		}
		__atomic_store_n(&pcpu_g.balance_pending, 0, __ATOMIC_RELEASE);
		busy_polls = PCPU_BALANCE_BUSY_POLLS;
		pthread_mutex_unlock(&pcpu_g.balance_lock);
		pcpu_balance_workfn();
		pthread_mutex_lock(&pcpu_g.balance_lock);
	}
	pthread_mutex_unlock(&pcpu_g.balance_lock);
	return NULL;
}

/**
 * pcpu_balance_start - start the balance thread, signals blocked in it
 *
 * Once per process image, and only if the balance work is enabled.
 *
 * Context: pcpu_g.balance_lock.
 */
void pcpu_balance_start(void)
{
	pthread_condattr_t ca;
	sigset_t all, old;

	if (!pcpu_geo.balance_enabled || pcpu_g.balance_running)
		return;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&pcpu_g.balance_cond);
	pthread_cond_init(&pcpu_g.balance_cond, &ca);
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pcpu_g.balance_stop = false;
	if (!pthread_create(&pcpu_g.balance_thread, NULL, pcpu_balance_thread,
			    NULL)) {
		pcpu_g.balance_running = true;
		WRITE_ONCE(pcpu_g.balance_restart, false);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/**
 * pcpu_balance_kick - ask for the balance work now, and wake the thread
 *
 * Starts the thread if it is not running.
 *
 * Context: takes pcpu_g.balance_lock; may make system calls.
 */
void pcpu_balance_kick(void)
{
	pcpu_balance_schedule();
	pthread_mutex_lock(&pcpu_g.balance_lock);
	pcpu_balance_start();
	pthread_cond_signal(&pcpu_g.balance_cond);
	pthread_mutex_unlock(&pcpu_g.balance_lock);
}

/**
 * pcpu_balance_stop_thread - stop the balance thread and wait for it
 *
 * Context: takes pcpu_g.balance_lock; no libpcpu lock may be held.
 */
void pcpu_balance_stop_thread(void)
{
	pthread_mutex_lock(&pcpu_g.balance_lock);
	if (!pcpu_g.balance_running) {
		pthread_mutex_unlock(&pcpu_g.balance_lock);
		return;
	}
	pcpu_g.balance_stop = true;
	pthread_cond_signal(&pcpu_g.balance_cond);
	pthread_mutex_unlock(&pcpu_g.balance_lock);
	pthread_join(pcpu_g.balance_thread, NULL);
	pcpu_g.balance_running = false;
	pcpu_g.balance_stop = false;
}
