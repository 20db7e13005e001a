"""A minimal Python Lambda runtime loop for the pandas peer's cold-start measurement: import the
function module (pandas, pyarrow, boto3 come with it), then speak the Lambda Runtime API at
$AWS_LAMBDA_RUNTIME_API — fetch the next event, call `lambda_handler`, post the response — as the
managed Python runtime does."""

import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pandas_lambda  # noqa: E402

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"


def main():
    while True:
        with urllib.request.urlopen(API + "next", timeout=3600) as r:
            rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        try:
            body, kind = json.dumps(pandas_lambda.lambda_handler(event, None)).encode(), "response"
        except Exception as e:  # the runtime reports any handler error to the API
            body, kind = json.dumps({"errorMessage": str(e), "errorType": type(e).__name__}).encode(), "error"
        req = urllib.request.Request(API + f"{rid}/{kind}", data=body, method="POST")
        urllib.request.urlopen(req, timeout=60).read()


if __name__ == "__main__":
    main()
