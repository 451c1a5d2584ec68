import ArbEngine
import ArbTestSupport
import Foundation
import OrderStateMachine
import PolymarketVenue
import Testing

/// Request lines in `arb sign polymarket-*`'s format and what Polymarket's official client
/// (py-clob-client-v2 1.2.1, through Scripts/polymarket-vectors.py) answers for each: amounts,
/// order hash and signature for orders over every tick size, BUY and SELL, EOA / proxy / Safe,
/// normal and neg-risk; the L2 HMAC for requests with and without a body.
let polymarketOfficialVectors: [(request: String, expected: String)] = [
    (#"{"private_key": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", "signature_type": 0, "token_id": "1234567890", "side": "BUY", "price": "0.4", "size": "100", "tick_size": "0.1", "neg_risk": false, "salt": 1000003, "timestamp": "1760000000000"}"#,
     #"{"maker_amount": "40000000", "taker_amount": "100000000", "order_hash": "0xba72b8123e635e90e9254a5cf74d1fe27106381d4e08d19d23366dd82967220e", "signature": "0xab68f5345a1ec2253642e4ab2c1de7bdd85e0a2f8394229e8dae1aa7a244235f6c274d80138109cb9f9b23078fde72f49701cea75f329f0782cc26662250fce51b"}"#),
    (#"{"private_key": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "signature_type": 1, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "SELL", "price": "0.9", "size": "12.34", "tick_size": "0.1", "neg_risk": true, "salt": 2000006, "timestamp": "1760000000001", "maker": "0x9d6b0d8a4c5f1c6a4E11c0f0E7A7bC9c1e5b2F11"}"#,
     #"{"maker_amount": "12340000", "taker_amount": "11106000", "order_hash": "0x56dda416d0a92989bcb7fedc79ec106c9fc7ab444cf996e3c451286cc55547b6", "signature": "0x5b47c5f27502bfbd73e34504dc9a6ed9edba9cb9edad824ff7ddb5e1a14af18d007798f28c55e6ff6454579cef9c7024f69b3d0a46572095597ca909bdf5940b1c"}"#),
    (#"{"private_key": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", "signature_type": 2, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "BUY", "price": "0.47", "size": "277.99", "tick_size": "0.01", "neg_risk": false, "salt": 3000009, "timestamp": "1760000000002", "maker": "0x9d6b0d8a4c5f1c6a4E11c0f0E7A7bC9c1e5b2F11"}"#,
     #"{"maker_amount": "130655300", "taker_amount": "277990000", "order_hash": "0x4cdb0684cf2c8e07496fdea293149a172a9dbadb92858a44d7e118ce63690e78", "signature": "0xed997c5822cae855084fa773b023bcd6c6582504b30aea16e0a6af6d517ba75f2e11bb022305cccb84f07110cf87b088e30f3b45574fe7ebc388c0b6542d55311b"}"#),
    (#"{"private_key": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "signature_type": 0, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "SELL", "price": "0.53", "size": "277.99", "tick_size": "0.01", "neg_risk": true, "salt": 4000012, "timestamp": "1760000000003"}"#,
     #"{"maker_amount": "277990000", "taker_amount": "147334700", "order_hash": "0x191280baf4445b6f7ba13f6b89b5ad3d96321ca23d33c791e85da7ba3b2c37cb", "signature": "0x2d2bc1a52bccde2f97f98b8db6b5455dc227cf7ec9b85c0a7020581a2f70a8cd4ce548f73f6ec26b56153b398df3dec244baf6da2cefe37c8a3816216b16f5a31c"}"#),
    (#"{"private_key": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", "signature_type": 1, "token_id": "1234567890", "side": "BUY", "price": "0.01", "size": "0.01", "tick_size": "0.01", "neg_risk": false, "salt": 5000015, "timestamp": "1760000000004", "maker": "0x9d6b0d8a4c5f1c6a4E11c0f0E7A7bC9c1e5b2F11"}"#,
     #"{"maker_amount": "100", "taker_amount": "10000", "order_hash": "0xa3c794dcda880566cce7835f0f377d446a1c767b15b116de1e5169165a44acfd", "signature": "0x995ae84cfb3037b80a1386e32847455d5676ba11250cbdb61fc9ac7497464d8b55d60b951ba95310d993934724123d590bde4bce594df1f22aa379f0bb14ad3b1b"}"#),
    (#"{"private_key": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "signature_type": 2, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "SELL", "price": "0.99", "size": "9999.99", "tick_size": "0.01", "neg_risk": true, "salt": 6000018, "timestamp": "1760000000005", "maker": "0x9d6b0d8a4c5f1c6a4E11c0f0E7A7bC9c1e5b2F11"}"#,
     #"{"maker_amount": "9999990000", "taker_amount": "9899990100", "order_hash": "0x7fc726af32b7afb5adf8d891c96b7633e52647ed767cdd1fa20da4b4ebdb7fee", "signature": "0xc317c9ac8c61858b0bc09cd50e5b64dd1acc1d5f7e53f067a268de7e4114dd9c6dcdf6fbae869ef5676974213c0a0cc95cabe809f164694287039137a3eaf1841b"}"#),
    (#"{"private_key": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", "signature_type": 0, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "BUY", "price": "0.465", "size": "10.01", "tick_size": "0.005", "neg_risk": false, "salt": 7000021, "timestamp": "1760000000006"}"#,
     #"{"maker_amount": "4654650", "taker_amount": "10010000", "order_hash": "0x970e28d35b1cc644daf9bece20b715da27b4826237633466e8a0234ed2f30543", "signature": "0x1142a3400ac21fd8f9df6f75d272808c7a2f2d193ff247d2ecf211736637198268705fafe86313efff0aac5ceb9ffb43000691ce6e078d043aeff5b2b4d2b9351c"}"#),
    (#"{"private_key": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "signature_type": 1, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "SELL", "price": "0.005", "size": "3.33", "tick_size": "0.005", "neg_risk": true, "salt": 8000024, "timestamp": "1760000000007", "maker": "0x9d6b0d8a4c5f1c6a4E11c0f0E7A7bC9c1e5b2F11"}"#,
     #"{"maker_amount": "3330000", "taker_amount": "16650", "order_hash": "0x5c0b07372df87f42ca062e9688166a56190123bcc4e2c40bb5f3b57a5e80716a", "signature": "0x7a5448c2eb0963808546277140ec44f01c9f92582c2e27daf4757abfe250e03440ffef1aae73c3fd76ca75bd5a1c74a26dd92f920ccecbdf1d166b794d87ef751b"}"#),
    (#"{"private_key": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", "signature_type": 2, "token_id": "1234567890", "side": "BUY", "price": "0.4625", "size": "10.01", "tick_size": "0.0025", "neg_risk": false, "salt": 9000027, "timestamp": "1760000000008", "maker": "0x9d6b0d8a4c5f1c6a4E11c0f0E7A7bC9c1e5b2F11"}"#,
     #"{"maker_amount": "4629625", "taker_amount": "10010000", "order_hash": "0xb843ce9ce91d9fabfeb9ca77dbe6da68fcca123aeb4f080cab8b12db1ade53f1", "signature": "0x18a8f8e5a1ae32e9148f7b4d582e121f1fae7ea0c1809fc2658085329203594b22c18a9714015da1c2b42187ec1338e1cdf46bba3b6e10d35c33e05dc06733c81c"}"#),
    (#"{"private_key": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "signature_type": 0, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "SELL", "price": "0.9975", "size": "7.77", "tick_size": "0.0025", "neg_risk": true, "salt": 10000030, "timestamp": "1760000000009"}"#,
     #"{"maker_amount": "7770000", "taker_amount": "7750575", "order_hash": "0x6c4b9faf27623f4e016d8ce4a7f7f50db7bdfd8d1869390cfa1f54d1498386f8", "signature": "0x6cde9f77e9fdc00b322b65bcb9ed439568bc8fd286ec5dc9ef3d6a8ff421b92514dbeb79b3db4ff32ab7ad7472d9d3d0e069166373dc4c0331754e0aec563ede1c"}"#),
    (#"{"private_key": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", "signature_type": 1, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "BUY", "price": "0.463", "size": "123.45", "tick_size": "0.001", "neg_risk": false, "salt": 11000033, "timestamp": "1760000000010", "maker": "0x9d6b0d8a4c5f1c6a4E11c0f0E7A7bC9c1e5b2F11"}"#,
     #"{"maker_amount": "57157350", "taker_amount": "123450000", "order_hash": "0x981b2d9ee8856b3d53f5eb1ed4a2f476895b458b041748425420af3f35e87e3b", "signature": "0xc4a4006a5a3f8c8f27e6678f48271297bd6ae14c8c4a785739cf4f7c599512b94d59ef54ab3010e141d2cd835b2a799e5d949393d7e13bc60b5c125d6594bd2b1b"}"#),
    (#"{"private_key": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "signature_type": 2, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "SELL", "price": "0.999", "size": "0.03", "tick_size": "0.001", "neg_risk": true, "salt": 12000036, "timestamp": "1760000000011", "maker": "0x9d6b0d8a4c5f1c6a4E11c0f0E7A7bC9c1e5b2F11"}"#,
     #"{"maker_amount": "30000", "taker_amount": "29970", "order_hash": "0x578bbb19009c06b377842e73e70b159c6998468e857ff88c5275a71978ee02e7", "signature": "0x2c1b9fef99000d5b9393fbeb2a50a128ee1d176b9c2910b72963bf6bb34c063c7e1f186343c589f536915b3991fd3bfc433a2d4d0dafd61beb7b32c59b50a5b51b"}"#),
    (#"{"private_key": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", "signature_type": 0, "token_id": "1234567890", "side": "BUY", "price": "0.4637", "size": "10.07", "tick_size": "0.0001", "neg_risk": false, "salt": 13000039, "timestamp": "1760000000012"}"#,
     #"{"maker_amount": "4669459", "taker_amount": "10070000", "order_hash": "0x9d60a22d62bb0f677dc5d9be57c232036765ed42244167c97b285ec06997dab5", "signature": "0x9bcb10dd2c85a2aca17015706caaebd41d0d12d506fd3c5eb656c1234afcbb127f13bc61b0fdf27ff303ffb8804e593487214f74cb723d9779a51ca0032f1e251c"}"#),
    (#"{"private_key": "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "signature_type": 1, "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "side": "SELL", "price": "0.0001", "size": "55.55", "tick_size": "0.0001", "neg_risk": true, "salt": 14000042, "timestamp": "1760000000013", "maker": "0x9d6b0d8a4c5f1c6a4E11c0f0E7A7bC9c1e5b2F11"}"#,
     #"{"maker_amount": "55550000", "taker_amount": "5555", "order_hash": "0x69791fb1dab58157f560422aacc017181bede66c1c5d9e3d463d8528709b9aca", "signature": "0x4c7ac6e721dbfa9dd08075ff3d2a1b8105123d8076232f18cb98fe0cdff9db8f723abc44f5ad9c29327c6435b972461a1596db0b99089e6e1275d1ccc6014a381c"}"#),
    (#"{"secret": "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA==", "timestamp": "1764600000", "method": "POST", "path": "/order", "body": "{\"order\":{\"salt\":1},\"owner\":\"k\",\"orderType\":\"GTC\"}"}"#,
     #"{"signature": "l3XlL5LqJvxcouk_Jz0SG9WDD2O2MgvrCury8zAgP-I="}"#),
    (#"{"secret": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "timestamp": "1764600001", "method": "GET", "path": "/data/order/0xabc", "body": null}"#,
     #"{"signature": "5-CA9Ou3gv4ZQu6OaRmKsMuN3pcT4XvTYgXkBNGHHCM="}"#),
    (#"{"secret": "_-8=", "timestamp": "1764600002", "method": "DELETE", "path": "/order", "body": "{\"orderID\":\"0x01\"}"}"#,
     #"{"signature": "9mxy9qrmcWbD8bGuPpzgMD6ycluGqhOtHfwb6uK4kp4="}"#),
]

@Suite("Polymarket: Keccak-256, EIP-712, secp256k1, amounts, and the official client's answers")
struct PolymarketSigningTests {
    @Test("Keccak-256 (Ethereum's padding, not NIST SHA3): empty, abc, and across the 136-byte rate")
    func keccak() {
        #expect(Hex.string(Keccak256.hash("")) == "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
        #expect(Hex.string(Keccak256.hash("abc")) == "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")
        #expect(Hex.string(Keccak256.hash(String(repeating: "a", count: 135))) == "0x34367dc248bbd832f4e3e69dfaac2f92638bd0bbd18f2912ba4ef454919cf446")
        #expect(Hex.string(Keccak256.hash(String(repeating: "a", count: 136))) == "0xa6c4d403279fe3e0af03729caada8374b5ca54d8065329a3ebcaeb4b60aa386e")
        #expect(Hex.string(Keccak256.hash((0...255).map { UInt8($0) } + [UInt8](repeating: 0, count: 44))) == "0x16996acd297bd05b869e13c908f609f1f7d66b1d58cbc8feb36f000cda98fed4")
    }

    @Test("the EIP's own Mail example: domain separator, struct hash, digest, and the signature with keccak(\"cow\")")
    func mail() throws {
        let domain = EIP712.domainSeparator(name: "Ether Mail", version: "1", chainID: 1,
                                            verifyingContract: Hex.bytes("0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"))
        #expect(Hex.string(domain) == "0xf2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f")
        let person = "Person(string name,address wallet)"
        let from = EIP712.hashStruct(type: person, [.string("Cow"), .address(Hex.bytes("0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826")!)])
        let to = EIP712.hashStruct(type: person, [.string("Bob"), .address(Hex.bytes("0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB")!)])
        let mail = EIP712.hashStruct(type: "Mail(Person from,Person to,string contents)" + person,
                                     [.structHash(from), .structHash(to), .string("Hello, Bob!")])
        #expect(Hex.string(mail) == "0xc52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e")
        let digest = EIP712.digest(domainSeparator: domain, structHash: mail)
        #expect(Hex.string(digest) == "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2")
        let cow = try EthereumKey(hex: Hex.string(Keccak256.hash("cow")))
        #expect(EthereumKey.checksummed(cow.address) == "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826")
        #expect(Hex.string(cow.sign(digest: digest)) == "0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d"
            + "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b915621c")
    }

    @Test("an address from a known private key, and signatures that recover to the signer (not only to our own bytes)")
    func addressAndRecovery() throws {
        let key = try EthereumKey(hex: "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
        #expect(EthereumKey.checksummed(key.address) == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23")
        #expect(!key.description.contains("4c0883a6"))
        for text in ["order one", "order two", ""] {
            let digest = Keccak256.hash(text)
            let signature = key.sign(digest: digest)
            #expect(EthereumKey.recover(digest: digest, signature: signature) == key.address)
            var other = digest
            other[0] ^= 1
            #expect(EthereumKey.recover(digest: other, signature: signature) != key.address)
        }
        #expect(throws: EthereumKeyError.self) { try EthereumKey(hex: "0x" + String(repeating: "0", count: 64)) }
        #expect(throws: EthereumKeyError.self) { try EthereumKey(hex: "0x1234") }
    }

    @Test("amounts for every tick size, BUY and SELL, and off-grid prices refused", arguments: PolymarketTick.allCases)
    func amounts(tick: PolymarketTick) throws {
        let price = Price(uncheckedTicks: 5_000 - (5_000 % tick.priceTicks) + tick.priceTicks)
        let size = Quantity(parsing: "10.01")!
        let buy = try PolymarketAmounts(side: .buy, price: price, size: size, tick: tick)
        let sell = try PolymarketAmounts(side: .sell, price: price, size: size, tick: tick)
        let product = UInt64(size.hundredths) * UInt64(price.ticks)
        #expect(buy.taker == 10_010_000 && buy.maker == product)
        #expect(sell.maker == 10_010_000 && sell.taker == product)
        if tick.priceTicks > 1 {
            #expect(throws: PolymarketOrderRefusal.self) {
                try PolymarketAmounts(side: .buy, price: Price(uncheckedTicks: price.ticks + 1), size: size, tick: tick)
            }
        }
        // Past 1 − tick.
        if tick.priceTicks > 1 {
            #expect(throws: PolymarketOrderRefusal.self) {
                try PolymarketAmounts(side: .sell, price: Price(uncheckedTicks: 10_000 - tick.priceTicks + 1), size: size, tick: tick)
            }
        }
    }

    @Test("a product with more decimals than the tick allows is cut down to them")
    func cut() {
        // 10.01 × 0.4637 = 4.641637: six decimals, cut to 3, 4 and 5.
        #expect(PolymarketAmounts.cutForTesting(4_641_637, decimals: 3) == 4_641_000)
        #expect(PolymarketAmounts.cutForTesting(4_641_637, decimals: 4) == 4_641_600)
        #expect(PolymarketAmounts.cutForTesting(4_641_637, decimals: 5) == 4_641_630)
        #expect(PolymarketAmounts.cutForTesting(4_641_637, decimals: 6) == 4_641_637)
    }

    @Test("arb sign polymarket-order and polymarket-l2 give the official client's amounts, hash, signature and HMAC")
    func officialVectors() async throws {
        let directory = TemporaryDirectory()
        let arb = builtProductsDirectory().appendingPathComponent("arb").path
        for command in ["polymarket-order", "polymarket-l2"] {
            let cases = polymarketOfficialVectors.filter { $0.request.contains("\"secret\"") == (command == "polymarket-l2") }
            let input = directory.path(command + ".jsonl")
            try (cases.map(\.request).joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
            let result = try await runProductAt("/bin/sh", ["-c", "exec \"$0\" sign \"$1\" < \"$2\"", arb, command, input],
                                                timeoutSeconds: 60)
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n")
            try #require(lines.count == cases.count)
            for (line, item) in zip(lines, cases) {
                let ours = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                let official = try #require(try JSONSerialization.jsonObject(with: Data(item.expected.utf8)) as? [String: String])
                for (key, value) in official { #expect(ours[key] as? String == value, "\(key) for \(item.request)") }
                #expect(!line.contains("private_key"))
            }
        }
    }

    @Test("the order's signature recovers to the wallet, and the body carries the hash's fields")
    func orderRecovers() throws {
        let key = try EthereumKey(hex: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        let signer = try PolymarketOrderSigner(key: key, maker: "0x9d6b0d8a4c5f1c6a4e11c0f0e7a7bc9c1e5b2f11", signatureType: 2)
        let order = try signer.sign(tokenID: "123", side: .buy, price: Price(uncheckedTicks: 4_700), size: Quantity(contracts: 5),
                                    tick: .hundredth, negRisk: false, salt: 7, timestampMilliseconds: 1_760_000_000_000)
        let digest = try #require(Hex.bytes(order.orderHash))
        #expect(EthereumKey.recover(digest: digest, signature: try #require(Hex.bytes(order.signature))) == key.address)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(order.body(owner: "api-key", orderType: "FAK").utf8)) as? [String: Any])
        let fields = try #require(body["order"] as? [String: Any])
        #expect(fields["maker"] as? String == "0x9d6b0d8a4C5F1c6a4E11c0F0E7A7bC9C1e5b2f11" || (fields["maker"] as? String)?.lowercased() == "0x9d6b0d8a4c5f1c6a4e11c0f0e7a7bc9c1e5b2f11")
        #expect(fields["makerAmount"] as? String == "2350000" && fields["takerAmount"] as? String == "5000000")
        #expect(fields["side"] as? String == "BUY" && fields["signatureType"] as? Int == 2 && fields["salt"] as? Int == 7)
        #expect(body["owner"] as? String == "api-key" && body["orderType"] as? String == "FAK")
    }

    @Test("an order's digest first and its signature later (as prepare splits them) is exactly the order signed at once")
    func digestThenSignature() throws {
        let key = try EthereumKey(hex: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        let signer = try PolymarketOrderSigner(key: key, maker: nil, signatureType: 0)
        for (side, negRisk) in [(Side.buy, false), (.sell, true)] {
            let unsigned = try signer.order(tokenID: "123", side: side, price: Price(uncheckedTicks: 4_700), size: Quantity(contracts: 5),
                                            tick: .hundredth, negRisk: negRisk, salt: 7, timestampMilliseconds: 1_760_000_000_000)
            let whole = try signer.sign(tokenID: "123", side: side, price: Price(uncheckedTicks: 4_700), size: Quantity(contracts: 5),
                                        tick: .hundredth, negRisk: negRisk, salt: 7, timestampMilliseconds: 1_760_000_000_000)
            let split = signer.signed(unsigned)
            #expect(split == whole && unsigned.orderHash == whole.orderHash)
            #expect(EthereumKey.recover(digest: unsigned.digest, signature: try #require(Hex.bytes(split.signature))) == key.address)
        }
    }

    @Test("a bad line: one line naming it and the field, non-zero exit, nothing after it; the key is never echoed")
    func badLine() async throws {
        let directory = TemporaryDirectory()
        let good = polymarketOfficialVectors[0].request
        let badKey = good.replacingOccurrences(of: "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
                                               with: "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f3623zz")
        let offGrid = good.replacingOccurrences(of: #""price": "0.4""#, with: #""price": "0.45""#)
        let arb = builtProductsDirectory().appendingPathComponent("arb").path
        for (bad, message) in [(badKey, "line 2: private_key is not a private key: allowed 0x and 64 hex digits"),
                               (offGrid, "line 2: price 0.4500 is not on the market's 0.1 grid")] {
            let input = directory.path("in.jsonl")
            try ([good, bad, good].joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
            let result = try await runProductAt("/bin/sh", ["-c", "exec \"$0\" sign polymarket-order < \"$1\"", arb, input],
                                                timeoutSeconds: 60)
            #expect(result.status == 1)
            #expect(result.stdout.split(separator: "\n").count == 1)
            #expect(result.stderr.hasPrefix("arb sign polymarket-order: " + message), "\(result.stderr)")
            #expect(!result.stderr.contains("4c0883a6"))
        }
    }

    @Test("the L1 ClobAuth signature equals the official client's (sign_clob_auth_message) and recovers to the wallet")
    func clobAuth() throws {
        let key = try EthereumKey(hex: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
        #expect(EthereumKey.checksummed(key.address) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        #expect(PolymarketL1.signature(key: key, timestampSeconds: 1_764_600_000, nonce: 0)
            == "0x13690bfb393136b7880a74e205ab80b184d1f5fe71ec7778e0898e9768a6bfa844f79b64658086e2384032cede0bf840c17c0f0fca4b7dc0972e02f1dd12b9931c")
        #expect(PolymarketL1.signature(key: key, timestampSeconds: 1_764_600_123, nonce: 7)
            == "0xd04cfc26e1cea3c05e05eeb1b9e12bc2aa55ccbfdbca52506b92044f51a7927107efd390d607743a191058a22bbf9fcb75c09de845cb4f1c8e7a74d44b771a281c")
        let digest = PolymarketL1.digest(address: key.address, timestampSeconds: 5, nonce: 1)
        #expect(EthereumKey.recover(digest: digest, signature: Hex.bytes(PolymarketL1.signature(key: key, timestampSeconds: 5, nonce: 1))!) == key.address)
    }
}
