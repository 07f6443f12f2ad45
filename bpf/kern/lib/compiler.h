/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef PS_LIB_COMPILER_H
#define PS_LIB_COMPILER_H

/* libbpf 1.1's headers do not provide them. */
#ifndef READ_ONCE
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#endif
#ifndef WRITE_ONCE
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#endif

/* Makes var opaque to the compiler here, so it cannot replace a later test of
 * var by a test of the condition that set it: the verifier cannot relate the
 * two and would see a NULL pointer dereferenced. */
#define PS_BARRIER_VAR(var) asm volatile("" : "+r"(var))

#endif /* PS_LIB_COMPILER_H */
