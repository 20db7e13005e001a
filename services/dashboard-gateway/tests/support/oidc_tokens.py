"""Makes a provider key set and tokens for the gateway's OpenID Connect tests, independently of the
Rust code under test (PyJWT + cryptography). Prints one JSON object: the JWKS and named tokens."""
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

issuer, client = sys.argv[1], sys.argv[2]
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
now = int(time.time())


def sign(claims, signer=key, kid="k1", alg="RS256"):
    base = {"iss": issuer, "iat": now, "exp": now + 3600, "sub": "0000-1111"}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, signer, algorithm=alg, headers={"kid": kid})


tokens = {
    # ID token: aud = the app client.
    "operativo_id": sign({"aud": client, "email": "ana@planta.mx", "cognito:groups": ["operativo"]}),
    "gerencial_id": sign({"aud": client, "email": "luis@planta.mx", "cognito:groups": ["gerencial", "otros"]}),
    # Cognito access token: no aud, client_id instead.
    "operativo_access": sign({"client_id": client, "username": "marta", "cognito:groups": ["operativo"]}),
    "expired": sign({"aud": client, "email": "ana@planta.mx", "cognito:groups": ["operativo"], "exp": now - 600}),
    "other_issuer": sign({"aud": client, "cognito:groups": ["operativo"], "iss": "https://otro.example.com"}),
    "other_client": sign({"aud": "otro-cliente", "cognito:groups": ["operativo"]}),
    "forged": sign({"aud": client, "cognito:groups": ["operativo"]}, signer=other),
    "unknown_kid": sign({"aud": client, "cognito:groups": ["operativo"]}, kid="k9"),
    "no_group": sign({"aud": client, "email": "nadie@planta.mx", "cognito:groups": ["visitantes"]}),
    "hs256": jwt.encode({"iss": issuer, "aud": client, "exp": now + 3600, "cognito:groups": ["operativo"]},
                        "a-shared-secret-of-enough-length-000", algorithm="HS256", headers={"kid": "k1"}),
}
print(json.dumps({"jwks": {"keys": [jwk]}, "tokens": tokens}))
