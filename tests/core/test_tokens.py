from kiosk_backend.core.tokens import new_token, same, token_hash


def test_tokens_carry_at_least_128_bits_and_differ():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 22 for t in tokens)


def test_only_a_hash_is_stored_and_compared_in_constant_time():
    token = new_token()
    digest = token_hash(token)
    assert token not in digest and len(digest) == 64
    assert same(digest, token_hash(token)) and not same(digest, token_hash(token + "x"))
