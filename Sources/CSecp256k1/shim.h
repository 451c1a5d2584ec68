#ifndef ARB_CSECP256K1_SHIM_H
#define ARB_CSECP256K1_SHIM_H
// libsecp256k1 (Debian's libsecp256k1-dev, with the recovery module): Ethereum's ECDSA for
// Polymarket's EIP-712 orders. RFC 6979 nonces and low-s signatures, as Ethereum clients make.
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#endif
