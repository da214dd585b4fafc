#ifndef SINKTRAP_SIPHASH_H
#define SINKTRAP_SIPHASH_H
/*
 * SipHash-1-3 (Aumasson and Bernstein; one compression round, three
 * finalization rounds, as hash tables use it): a hash keyed by a secret, so
 * that whoever chooses the keys a table holds (a remote peer's addresses, the
 * names it asks for) cannot aim them at one bucket without knowing the key.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sipkey {
	uint64_t k0, k1;
};

/* A fresh random key (getrandom; the time and salt's address mixed when the kernel
 * gives nothing). seed, when not 0, gives a fixed key instead (reproducible tests). */
void sipkey_init(struct sipkey *k, uint64_t seed, const void *salt);

static inline uint64_t sip_rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIP_ROUND(v0, v1, v2, v3)                                                              \
	do {                                                                                   \
		v0 += v1;                                                                      \
		v1 = sip_rotl(v1, 13);                                                         \
		v1 ^= v0;                                                                      \
		v0 = sip_rotl(v0, 32);                                                         \
		v2 += v3;                                                                      \
		v3 = sip_rotl(v3, 16);                                                         \
		v3 ^= v2;                                                                      \
		v0 += v3;                                                                      \
		v3 = sip_rotl(v3, 21);                                                         \
		v3 ^= v0;                                                                      \
		v2 += v1;                                                                      \
		v1 = sip_rotl(v1, 17);                                                         \
		v1 ^= v2;                                                                      \
		v2 = sip_rotl(v2, 32);                                                         \
	} while (0)

struct sipstate {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_begin(struct sipstate *s, const struct sipkey *k)
{
	s->v0 = k->k0 ^ 0x736f6d6570736575ull;
	s->v1 = k->k1 ^ 0x646f72616e646f6dull;
	s->v2 = k->k0 ^ 0x6c7967656e657261ull;
	s->v3 = k->k1 ^ 0x7465646279746573ull;
}

static inline void sip_word(struct sipstate *s, uint64_t m)
{
	s->v3 ^= m;
	SIP_ROUND(s->v0, s->v1, s->v2, s->v3);
	s->v0 ^= m;
}

/* last: the final word, the message's length in bytes in its top byte. */
static inline uint64_t sip_end(struct sipstate *s, uint64_t last)
{
	sip_word(s, last);
	s->v2 ^= 0xff;
	SIP_ROUND(s->v0, s->v1, s->v2, s->v3);
	SIP_ROUND(s->v0, s->v1, s->v2, s->v3);
	SIP_ROUND(s->v0, s->v1, s->v2, s->v3);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* nw whole 64-bit words. */
static inline uint64_t siphash13_words(const struct sipkey *k, const uint64_t *w, size_t nw)
{
	struct sipstate s;
	sip_begin(&s, k);
	for (size_t i = 0; i < nw; i++)
		sip_word(&s, w[i]);
	return sip_end(&s, (uint64_t)(nw * 8) << 56);
}

/* n bytes, read as little-endian words (the reference's byte order). */
static inline uint64_t siphash13(const struct sipkey *k, const void *data, size_t n)
{
	const uint8_t *p = data;
	struct sipstate s;
	sip_begin(&s, k);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t m = 0;
		for (int j = 7; j >= 0; j--)
			m = m << 8 | p[i + (size_t)j];
		sip_word(&s, m);
	}
	uint64_t last = (uint64_t)n << 56;
	for (size_t j = 0; i + j < n; j++)
		last |= (uint64_t)p[i + j] << (8 * j);
	return sip_end(&s, last);
}

#endif
