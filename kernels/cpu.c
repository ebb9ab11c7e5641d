/* cpu.c - CPUID + XGETBV feature detection.  Built without ISA flags. */
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu.h"

static const char *const feature_names[CPU_N_FEATURES] = {
	"sse4.2", "avx", "avx2", "fma", "f16c", "avxvnni",
	"avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16",
};

const char *cpu_feature_name(uint32_t bit)
{
	for (int i = 0; i < CPU_N_FEATURES; i++)
		if (bit == 1u << i)
			return feature_names[i];
	return "?";
}

char *cpu_features_str(uint32_t mask, char *buf, unsigned long cap)
{
	size_t used = 0;

	if (cap == 0)
		return buf;
	buf[0] = '\0';
	for (int i = 0; i < CPU_N_FEATURES; i++) {
		if (!(mask & (1u << i)))
			continue;
		int n = snprintf(buf + used, cap - used, "%s%s",
				 used ? " " : "", feature_names[i]);
		if (n < 0 || (size_t)n >= cap - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

/* XCR0: which register state the OS saves on context switch. */
static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static uint32_t detect(struct cpu_info *ci)
{
	unsigned a = 0, b = 0, c = 0, d = 0, max = 0;
	uint32_t f = 0;

	if (!__get_cpuid(0, &max, &b, &c, &d))
		return 0;
	memcpy(ci->vendor + 0, &b, 4);
	memcpy(ci->vendor + 4, &d, 4);
	memcpy(ci->vendor + 8, &c, 4);
	ci->vendor[12] = '\0';

	__get_cpuid(1, &a, &b, &c, &d);
	unsigned fam = (a >> 8) & 0xf, mod = (a >> 4) & 0xf;
	if (fam == 0xf)
		fam += (a >> 20) & 0xff;
	if (fam == 0x6 || fam >= 0xf)
		mod |= ((a >> 16) & 0xf) << 4;
	ci->family = fam;
	ci->model = mod;
	ci->stepping = a & 0xf;

	int osxsave = (c >> 27) & 1;
	uint64_t xcr0 = osxsave ? xgetbv0() : 0;
	int os_avx = (xcr0 & 0x6) == 0x6;		/* XMM | YMM */
	int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM */

	if (c & (1u << 20))
		f |= CPU_SSE42;
	if (os_avx && (c & (1u << 28)))
		f |= CPU_AVX;
	if (os_avx && (c & (1u << 12)))
		f |= CPU_FMA;
	if (os_avx && (c & (1u << 29)))
		f |= CPU_F16C;

	if (max >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		if (os_avx && (b & (1u << 5)))
			f |= CPU_AVX2;
		if (os_avx512 && (b & (1u << 16)))
			f |= CPU_AVX512F;
		if (os_avx512 && (b & (1u << 30)))
			f |= CPU_AVX512BW;
		if (os_avx512 && (b & (1u << 31)))
			f |= CPU_AVX512VL;
		if (os_avx512 && (c & (1u << 11)))
			f |= CPU_AVX512VNNI;
		unsigned max7 = a;
		if (max7 >= 1) {
			__cpuid_count(7, 1, a, b, c, d);
			if (os_avx && (a & (1u << 4)))
				f |= CPU_AVXVNNI;
			if (os_avx512 && (a & (1u << 5)))
				f |= CPU_AVX512BF16;
		}
	}

	unsigned ext = 0;
	__get_cpuid(0x80000000, &ext, &b, &c, &d);
	if (ext >= 0x80000004) {
		unsigned *w = (unsigned *)(void *)ci->brand;
		for (unsigned i = 0; i < 3; i++)
			__get_cpuid(0x80000002 + i, &w[4 * i], &w[4 * i + 1],
				    &w[4 * i + 2], &w[4 * i + 3]);
		ci->brand[48] = '\0';
		/* trim leading and trailing blanks */
		char *s = ci->brand;
		while (*s == ' ')
			s++;
		memmove(ci->brand, s, strlen(s) + 1);
		for (size_t n = strlen(ci->brand); n && ci->brand[n - 1] == ' ';)
			ci->brand[--n] = '\0';
	}
	return f;
}

int cpu_parse_mask(const char *spec, uint32_t *out)
{
	static const struct { const char *name; uint32_t bits; } levels[] = {
		{ "scalar", 0 },
		{ "none", 0 },
		{ "avx2", CPU_SSE42 | CPU_AVX | CPU_AVX2 | CPU_FMA | CPU_F16C },
		{ "avx512", CPU_SSE42 | CPU_AVX | CPU_AVX2 | CPU_FMA | CPU_F16C |
			    CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL |
			    CPU_AVX512VNNI | CPU_AVX512BF16 },
	};
	char tok[32];
	uint32_t m = 0;

	for (const char *p = spec; *p;) {
		size_t n = strcspn(p, "+,");
		if (n == 0 || n >= sizeof tok)
			return -1;
		memcpy(tok, p, n);
		tok[n] = '\0';
		int found = 0;
		for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
			if (!strcmp(tok, levels[i].name)) {
				m |= levels[i].bits;
				found = 1;
			}
		for (int i = 0; i < CPU_N_FEATURES && !found; i++)
			if (!strcmp(tok, feature_names[i])) {
				m |= 1u << i;
				found = 1;
			}
		if (!found)
			return -1;
		p += n;
		if (*p)
			p++;
	}
	*out = m;
	return 0;
}

const struct cpu_info *cpu_get(void)
{
	static struct cpu_info ci;
	static int done;

	/* Benign race: every thread computes the same value. */
	if (!done) {
		struct cpu_info t = { 0 };
		t.hw = detect(&t);
		t.features = t.hw;
		const char *mask = getenv("Q8TUNE_CPU_MASK");
		uint32_t allow;
		if (mask && *mask && cpu_parse_mask(mask, &allow) == 0) {
			t.features &= allow;
			t.mask_name = mask;
		} else if (mask && *mask) {
			/* unparseable: hide everything, and let the mains say so */
			t.features = 0;
			t.mask_name = mask;
			t.mask_bad = 1;
		}
		ci = t;
		done = 1;
	}
	return &ci;
}
