/* Must not compile: a this-CPU operation on an object of the type named
 * by PCPU_BAD_TYPE (double, float, a struct, or a pointer for the
 * arithmetic), through the operation PCPU_BAD_OP (pcpu_inc, or
 * pcpu_write_zero).  With PCPU_GOOD_TYPES,
 * the control: the integer, enum, bool and pointer uses that must. */
#include <pcpu/ops.h>

/* the one-argument form of each operation tried */
#define pcpu_write_zero(q) pcpu_write(q, 0)

struct eight {
	long x;
};
enum colour { RED, GREEN };

int main(void)
{
	void *p = pcpu_alloc(8, 8);

#ifdef PCPU_GOOD_TYPES
	pcpu_add((long *)p, 1);
	pcpu_inc((char *)p);
	pcpu_dec((unsigned short *)p);
	(void)pcpu_add_return((int *)p, 2);
	pcpu_write((enum colour *)p, GREEN);
	pcpu_write((_Bool *)p, 1);
	pcpu_write((int **)p, (int *)0);
	(void)pcpu_xchg((int **)p, (int *)0);
	(void)pcpu_cmpxchg((int **)p, (int *)0, (int *)0);
#else
	PCPU_BAD_OP((PCPU_BAD_TYPE *)p);
#endif
	return 0;
}
