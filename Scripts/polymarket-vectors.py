#!/usr/bin/env python3
"""Prints the official py-clob-client-v2's answers for `arb sign polymarket-order` and
`arb sign polymarket-l2` request lines, so tests can pin arb's output to Polymarket's own client.

    python3 -m venv /tmp/pyclob && /tmp/pyclob/bin/pip install py-clob-client-v2
    /tmp/pyclob/bin/python Scripts/polymarket-vectors.py < requests.jsonl > expected.jsonl

Each input line is one request in arb's format; each output line is the official client's
{maker_amount, taker_amount, order_hash, signature} (orders) or {signature} (L2). Used to write
Tests/ArbEngineTests/Fixtures/polymarket-vectors.jsonl; not run by CI (it needs PyPI).
"""
import json
import sys

from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_builder.builder import OrderBuilder, ROUNDING_CONFIG
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, SignatureTypeV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.signer import Signer
from py_clob_client_v2.signing.hmac import build_hmac_signature

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    request = json.loads(line)
    if "secret" in request:
        print(json.dumps({"signature": build_hmac_signature(
            request["secret"], request["timestamp"], request["method"], request["path"], request.get("body"))}))
        continue
    signer = Signer(request["private_key"], 137)
    signature_type = SignatureTypeV2(request["signature_type"])
    builder = OrderBuilder(signer, signature_type=signature_type, funder=request.get("maker"))
    side, maker_amount, taker_amount = builder.get_order_amounts(
        request["side"], float(request["size"]), float(request["price"]), ROUNDING_CONFIG[request["tick_size"]])
    config = get_contract_config(137)
    exchange = config.neg_risk_exchange_v2 if request["neg_risk"] else config.exchange_v2
    salt = request["salt"]
    exchange_builder = ExchangeOrderBuilderV2(exchange, 137, signer, generate_salt=lambda: str(salt))
    order = exchange_builder.build_order(OrderDataV2(
        maker=builder.funder, tokenId=request["token_id"], makerAmount=str(maker_amount),
        takerAmount=str(taker_amount), side=side, signer=signer.address(), signatureType=signature_type,
        timestamp=request["timestamp"]))
    typed = exchange_builder.build_order_typed_data(order)
    print(json.dumps({
        "maker_amount": str(maker_amount), "taker_amount": str(taker_amount),
        "order_hash": exchange_builder.build_order_hash(typed),
        "signature": exchange_builder.build_order_signature(typed),
    }))
