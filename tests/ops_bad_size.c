/* Must not compile: this-CPU operations on a 3-byte object. */
#include <pcpu/ops.h>

struct three {
	char c[3];
};

int main(void)
{
	struct three *p = pcpu_alloc(sizeof(*p), 1);

	pcpu_inc((char(*)[3])p);
	return 0;
}
