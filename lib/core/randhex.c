#include "randhex.h"

#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void randhex(char *out, size_t nbytes)
{
	static unsigned long long counter;
	unsigned char b[64];
	size_t done = 0, i;

	while (done < nbytes) {
		size_t n = nbytes - done < sizeof(b) ? nbytes - done : sizeof(b);

		if (getrandom(b, n, 0) != (ssize_t)n) {
			struct timespec ts;
			unsigned long long x;

			clock_gettime(CLOCK_REALTIME, &ts);
			x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 30) ^
			    ((unsigned long long)getpid() << 17) ^ ++counter;
			for (i = 0; i < n; i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
				b[i] = (unsigned char)(x >> 56);
		}
		for (i = 0; i < n; i++)
			snprintf(out + 2 * (done + i), 3, "%02x", b[i]);
		done += n;
	}
	out[2 * nbytes] = '\0';
}
