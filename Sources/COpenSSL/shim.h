#ifndef ARB_COPENSSL_SHIM_H
#define ARB_COPENSSL_SHIM_H
// libcrypto (OpenSSL 3) for RSA-PSS: Kalshi signs every request with it. Only what the Kalshi
// signer and its tests use.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#endif
