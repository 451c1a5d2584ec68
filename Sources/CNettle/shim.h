#ifndef ARB_CNETTLE_SHIM_H
#define ARB_CNETTLE_SHIM_H
// nettle (Debian's nettle-dev): the Keccak-f[1600] permutation under Ethereum's Keccak-256 (the
// sponge and its 0x01 padding are ours: nettle's SHA3 pads for NIST), and HMAC-SHA256 for
// Polymarket's L2 request signatures.
#include <nettle/sha3.h>
#include <nettle/hmac.h>
#endif
