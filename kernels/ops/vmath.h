/* ops/vmath.h - e^x, GELU and SiLU per lane, written once for the 8-lane
 * (ops/avx2.c) and the 16-lane (ops/avx512.c) files.
 *
 * A template: include it once, only from an ISA file (the bodies need its
 * -m flags), after defining
 *	VW		the register width in bits: 256 or 512
 *	VROUND(v)	v rounded to the nearest integer, no exceptions
 *	VNEG(v)		v with every sign bit flipped
 * (the two operations whose intrinsics differ between the widths by more
 * than the _mm256_ / _mm512_ prefix).  Defines VF / VI, the float and
 * int vector types, V(op), the intrinsic _mm<VW>_op, and the always-inline
 * vexp, vgelu and vsilu on VF. */
#ifndef VW
#error "define VW, VROUND and VNEG before including vmath.h"
#endif

#include "simd.h"

#define VM_CAT_(a, b, c) a##b##c
#define VM_CAT(a, b, c) VM_CAT_(a, b, c)
#define VF VM_CAT(__m, VW, )
#define VI VM_CAT(__m, VW, i)
#define V(op) VM_CAT(_mm, VW, _##op)
/* the int lanes of v as floats, bits unchanged */
#define VCAST_PS(v) VM_CAT(_mm, VW, VM_CAT(_castsi, VW, _ps))(v)

/* e^x per lane, Cephes expf: x = n ln2 + r with |r| <= ln2/2 (ln2 split in
 * two so n * C1 is exact), e^r by a degree-7 polynomial, times 2^n applied
 * as two exact power-of-two factors so results down to the subnormal range
 * round once.  Measured on every float in [-104, 89]: at most 1.01 ulp
 * from the exact e^x (glibc's expf: 0.502), at most 1 ulp from glibc, and
 * equal to glibc for 99.2% of inputs.  Overflow gives +inf (x > 88.7228),
 * underflow 0 (x < -103.97, and -inf), NaN stays NaN. */
AI VF vexp(VF x)
{
	const VF c1 = V(set1_ps)(0.693359375f);
	const VF c2 = V(set1_ps)(-2.12194440e-4f);
	VF n, r, p;
	VI ni, n1, n2;

	/* the clamp keeps n in [-150, 129]; NaN passes through (2nd operand) */
	x = V(max_ps)(V(set1_ps)(-104.0f), x);
	x = V(min_ps)(V(set1_ps)(89.0f), x);
	n = VROUND(V(mul_ps)(x, V(set1_ps)(1.44269504088896341f)));
	r = V(fnmadd_ps)(n, c1, x);
	r = V(fnmadd_ps)(n, c2, r);
	p = V(set1_ps)(1.9875691500e-4f);
	p = V(fmadd_ps)(p, r, V(set1_ps)(1.3981999507e-3f));
	p = V(fmadd_ps)(p, r, V(set1_ps)(8.3334519073e-3f));
	p = V(fmadd_ps)(p, r, V(set1_ps)(4.1665795894e-2f));
	p = V(fmadd_ps)(p, r, V(set1_ps)(1.6666665459e-1f));
	p = V(fmadd_ps)(p, r, V(set1_ps)(5.0000001201e-1f));
	p = V(fmadd_ps)(p, V(mul_ps)(r, r), r);
	p = V(add_ps)(p, V(set1_ps)(1.0f));
	/* 2^n = 2^n1 * 2^n2, both factors normal for n in [-150, 129] */
	ni = V(cvtps_epi32)(n);
	n1 = V(srai_epi32)(ni, 1);
	n2 = V(sub_epi32)(ni, n1);
	n1 = V(slli_epi32)(V(add_epi32)(n1, V(set1_epi32)(127)), 23);
	n2 = V(slli_epi32)(V(add_epi32)(n2, V(set1_epi32)(127)), 23);
	p = V(mul_ps)(p, VCAST_PS(n1));
	return V(mul_ps)(p, VCAST_PS(n2));
}

/* GELU (tanh form) with tanh(y) = 1 - 2 / (e^2y + 1); same expression
 * tree as gelu_exact otherwise.  The tanh is accurate to ~1e-7 absolute
 * (not relative near 0), hence KIND_APPROX. */
AI VF vgelu(VF x)
{
	const VF one = V(set1_ps)(1.0f);
	VF y = V(mul_ps)(V(mul_ps)(V(set1_ps)(0.79788456080286535588f), x),
		V(add_ps)(one, V(mul_ps)(V(mul_ps)(V(set1_ps)(0.044715f), x), x)));
	VF t = V(sub_ps)(one, V(div_ps)(V(set1_ps)(2.0f),
		V(add_ps)(vexp(V(add_ps)(y, y)), one)));

	return V(mul_ps)(V(mul_ps)(V(set1_ps)(0.5f), x), V(add_ps)(one, t));
}

/* x / (1 + e^-x), as silu_exact with vexp. */
AI VF vsilu(VF x)
{
	VF e = vexp(VNEG(x));

	return V(div_ps)(x, V(add_ps)(V(set1_ps)(1.0f), e));
}
