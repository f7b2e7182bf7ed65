/* Must not compile: this-CPU operations on a 3-byte object (with
 * PCPU_GOOD_SIZE, the 4-byte control that must compile). */
#include <pcpu/ops.h>

struct three {
	char c[3];
};

int main(void)
{
	struct three *p = pcpu_alloc(sizeof(*p), 1);

#ifdef PCPU_GOOD_SIZE
	pcpu_inc((int *)p);
#else
	pcpu_inc((char(*)[3])p);
#endif
	return 0;
}
