/*
 * libargon2, opened at the first call (common/dynlib.h): only the web worker
 * and `sinktrap passwd` hash passwords.
 */
#include <argon2.h>

#include "../common/dynlib.h"

static struct dynlib argon2 = DYNLIB_INIT("Argon2 library (libargon2)", "libargon2.so.1");

DYNLIB_FN(argon2, int, argon2id_hash_encoded,
          (const uint32_t t_cost, const uint32_t m_cost, const uint32_t parallelism,
           const void *pwd, const size_t pwdlen, const void *salt, const size_t saltlen,
           const size_t hashlen, char *encoded, const size_t encodedlen),
          (t_cost, m_cost, parallelism, pwd, pwdlen, salt, saltlen, hashlen, encoded,
           encodedlen))
DYNLIB_FN(argon2, int, argon2id_verify,
          (const char *encoded, const void *pwd, const size_t pwdlen), (encoded, pwd, pwdlen))
DYNLIB_FN(argon2, const char *, argon2_error_message, (int error_code), (error_code))
