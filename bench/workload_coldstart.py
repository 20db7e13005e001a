"""Workload 2: cold start — from process start to the first event handled — for each Lambda binary and
for the pandas peer (interpreter start + imports + first call), over the real Lambda Runtime API
protocol served by a local stub, with S3 and SNS served by moto_server (the AWS SDKs talk to it for
real: the transformer reads the raw CSV and writes staging, the validator writes the Parquet files,
every stage publishes to SNS). Before each run the function's outputs are deleted; after it they must
exist again and its dead-letter queue must be empty, so a run counts only when the event was handled. Each run is a fresh process; the event is a day of `rows` rows."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import datasets
from measure import load, stats, vm_hwm_kib

HERE = os.path.dirname(os.path.abspath(__file__))
BUCKET = "pinta-bench"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RuntimeApi:
    """A Lambda Runtime API endpoint that hands out one event and records when the response comes."""

    def __init__(self):
        self.port = free_port()
        self.lock = threading.Condition()
        self.event = None
        self.t_next = None
        self.t_response = None
        self.response = None
        self.error = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _reply(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self._reply(404)
                with api.lock:
                    event, api.event = api.event, None
                    if event is not None:
                        api.t_next = time.perf_counter()
                if event is None:
                    time.sleep(30)  # a second poll: the run is over and the process is killed meanwhile
                    return self._reply(500)
                rid = str(uuid.uuid4())
                deadline = str(int((time.time() + 300) * 1000))
                self._reply(200, json.dumps(event).encode(), {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": rid,
                    "Lambda-Runtime-Deadline-Ms": deadline,
                    "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                })

            def do_POST(self):
                body = self._body()
                with api.lock:
                    if "/response" in self.path:
                        api.t_response = time.perf_counter()
                        api.response = body.decode("utf-8", "replace")
                    else:
                        api.t_response = time.perf_counter()
                        api.error = body.decode("utf-8", "replace")
                    api.lock.notify_all()
                self._reply(202, b"{}", {"Content-Type": "application/json"})

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # the client was killed mid-poll: expected at the end of every run

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def arm(self, event):
        with self.lock:
            self.event, self.t_next, self.t_response, self.response, self.error = event, None, None, None, None

    def wait(self, timeout):
        with self.lock:
            self.lock.wait_for(lambda: self.t_response is not None, timeout=timeout)
            return self.t_response is not None

    def close(self):
        self.server.shutdown()


def sqs_event(body, queue):
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "bench", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}", "awsRegion": REGION,
    }]}


def scheduled_event():
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/pinta-extract"], "detail": {}}


def start_moto(log_path):
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    log = open(log_path, "wb")
    p = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return p, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise RuntimeError("moto_server did not start")


def run(cache, bins, runs, rows=10_000, log=print, extractor_only=False):
    """Cold start of every function on a day of `rows` rows; with `extractor_only`, only the extractor
    on a source day of `rows` rows (its peak RSS at scale; that day is seeded, not extracted before)."""
    import boto3

    ds = datasets.source_day(cache, bins, rows, log=log) if extractor_only else datasets.day(cache, bins, rows, log=log)
    data_dir = ds["data_dir"]
    work = tempfile.mkdtemp(prefix="coldstart-", dir=os.path.join(cache, "out"))
    moto, endpoint = start_moto(os.path.join(work, "moto.log"))
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
             "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"}
    os.environ.update(creds)
    api = RuntimeApi()
    result = {"rows": ds["rows"], "load_before": load(), "binaries": {}, "peers": {}}
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
        sns = boto3.client("sns", endpoint_url=endpoint, region_name=REGION)
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        topics = {n: sns.create_topic(Name=f"pinta-{n}")["TopicArn"] for n in ("pipeline", "public", "alerts")}
        dlqs = {n: sqs.create_queue(QueueName=f"pinta-{n}-dlq")["QueueUrl"] for n in ("transformer", "validator", "notifier")}
        for root, _, files in os.walk(data_dir):
            for name in files:
                path = os.path.join(root, name)
                key = os.path.relpath(path, data_dir).replace(os.sep, "/")
                if key.startswith(("crudos/", "catalogos/")):
                    s3.upload_file(path, BUCKET, key)
        catalog_key = "catalogos/" + os.path.basename(ds["catalog"] or "")

        lambda_env = {**os.environ, **creds, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}",
                      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                      "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
                      "PINTA_BUCKET": BUCKET, "PINTA_PIPELINE_TOPIC_ARN": topics["pipeline"], "RUST_LOG": "warn",
                      "PINTA_OUTBOX_DIR": os.path.join(work, "outbox")}
        source_url = "sqlite://" + os.path.join(data_dir, ".pinta", "source.sqlite")

        def events(nonce):
            out = subprocess.run([os.path.join(bins, "pinta-bench"), "events", data_dir, ds["day"], nonce],
                                 capture_output=True, text=True, check=True).stdout
            return json.loads(out.strip().splitlines()[-1])

        cases = [
            ("pinta-extractor", {"PINTA_SOURCE_URL": source_url}, lambda e: scheduled_event()),
            ("pinta-transformer", {"PINTA_DLQ_URL": dlqs["transformer"]}, lambda e: sqs_event(e["extracted"], "pinta-transformer")),
            ("pinta-validator", {"PINTA_DLQ_URL": dlqs["validator"], "PINTA_PUBLIC_TOPIC_ARN": topics["public"]},
             lambda e: sqs_event(e["transformed"], "pinta-validator")),
            ("pinta-notifier", {"PINTA_DLQ_URL": dlqs["notifier"], "PINTA_ALERTS_TOPIC_ARN": topics["alerts"],
                                "PINTA_PIPELINE_TOPIC_ARN": ""}, lambda e: sqs_event(e["failed"], "pinta-notifier")),
        ]
        peer = [sys.executable, os.path.join(HERE, "peers", "lambda_bootstrap.py")]
        raw_key = f"crudos/produccion_raw_{ds['day']}.csv"
        s3_event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                 "s3": {"bucket": {"name": BUCKET}, "object": {"key": raw_key}}}]}
        all_cases = [(name, os.path.join(bins, name), env, make) for name, env, make in cases]
        all_cases.append(("pandas-lambda", peer, {"CATALOG_KEY": catalog_key, "PYTHONDONTWRITEBYTECODE": "1"}, lambda e: s3_event))
        if extractor_only:
            all_cases = all_cases[:1]
        samples = {c[0]: [] for c in all_cases}
        for n in range(runs):
            for name, exe, extra, make in all_cases:
                evs = {"staging_key": ""} if extractor_only else events(f"{n}-{uuid.uuid4()}")
                event = make(evs)
                outputs = _outputs(name, ds["day"], evs["staging_key"])
                for key in outputs:
                    s3.delete_object(Bucket=BUCKET, Key=key)
                api.arm(event)
                env = {**lambda_env, **extra, "AWS_LAMBDA_FUNCTION_NAME": name}
                if env.get("PINTA_PIPELINE_TOPIC_ARN") == "":
                    env.pop("PINTA_PIPELINE_TOPIC_ARN")
                err = open(os.path.join(work, f"{name}-{n}.stderr"), "wb")
                t0 = time.perf_counter()
                p = subprocess.Popen(exe if isinstance(exe, list) else [exe], env=env, stdout=err, stderr=err)
                ok, exited, deadline = False, None, time.time() + 120
                while not ok and exited is None and time.time() < deadline:
                    ok = api.wait(timeout=0.05)
                    if not ok:
                        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                        exited = (status, ru) if pid else None
                t_next, t_resp = api.t_next, api.t_response
                hwm = vm_hwm_kib(p.pid) if exited is None else None
                if exited is None:
                    # os.kill, not Popen.send_signal: that polls first and would reap the child (and its rusage).
                    os.kill(p.pid, signal.SIGKILL)
                    _, status, ru = os.wait4(p.pid, 0)
                else:
                    status, ru = exited
                p.returncode = os.waitstatus_to_exitcode(status)
                err.close()
                if not ok or api.error:
                    with open(os.path.join(work, f"{name}-{n}.stderr"), encoding="utf-8", errors="replace") as f:
                        tail = f.read()[-3000:]
                    raise RuntimeError(f"{name}: no response to the first event (error: {api.error}):\n{tail}")
                sample = {"ready_s": (t_next - t0) if t_next else None, "first_event_s": t_resp - t0,
                          "peak_rss_kib": hwm or ru.ru_maxrss, "wait4_maxrss_kib": ru.ru_maxrss,
                          "cpu_s": ru.ru_utime + ru.ru_stime, "response": api.response[:300]}
                if "batchItemFailures" in (api.response or "") and json.loads(api.response).get("batchItemFailures"):
                    raise RuntimeError(f"{name}: the event was not handled: {api.response}")
                # An empty batchItemFailures also follows a message the runner dead-lettered: check the DLQ.
                dlq = extra.get("PINTA_DLQ_URL")
                if dlq:
                    n_dead = int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                                 ["Attributes"]["ApproximateNumberOfMessages"])
                    if n_dead:
                        body = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=1).get("Messages", [{}])[0].get("Body", "")
                        raise RuntimeError(f"{name}: the event was dead-lettered, not handled: {body[:2000]}")
                for key in outputs:
                    s3.head_object(Bucket=BUCKET, Key=key)  # raises when the function did not write it
                sample["outputs_checked"] = outputs
                samples[name].append(sample)
                log(f"  run {n + 1}/{runs} {name:<18} ready {sample['ready_s'] or 0:.3f} s, first event handled "
                    f"{sample['first_event_s']:.3f} s, {sample['peak_rss_kib'] / 1024:.0f} MiB peak")
        for name, exe, _, _ in all_cases:
            rs = samples[name]
            summary = {
                "ready_s": stats([r["ready_s"] for r in rs]),
                "first_event_s": stats([r["first_event_s"] for r in rs]),
                "peak_rss_mib": stats([r["peak_rss_kib"] / 1024 for r in rs]),
                "cpu_s": stats([r["cpu_s"] for r in rs]),
            }
            if isinstance(exe, str):
                result["binaries"][name] = {"size_bytes": os.path.getsize(exe), "runs": rs, "summary": summary}
            else:
                result["peers"][name] = {"runs": rs, "summary": summary, "deployment_bytes": _site_packages_size(
                    ["pandas", "numpy", "pyarrow", "boto3", "botocore", "dateutil", "pytz", "s3transfer", "jmespath", "urllib3"])}
    finally:
        api.close()
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()
        result["load_after"] = load()
        shutil.rmtree(work, ignore_errors=True)
    return result


def _outputs(name, day, staging_key):
    """The objects a function must write for its event (deleted before the run, checked after).
    The extractor's raw CSV is kept (the later stages read it); its response names the rows it wrote."""
    month = day[:7]
    parquet = [f"produccion/{month}/produccion_{day}.parquet", f"cuarentena/{month}/cuarentena_{day}.parquet"]
    return {"pinta-transformer": [staging_key], "pinta-validator": parquet, "pandas-lambda": parquet}.get(name, [])


def _site_packages_size(packages):
    import importlib.util

    total = 0
    for name in packages:
        spec = importlib.util.find_spec(name)
        if not spec or not spec.submodule_search_locations:
            continue
        for loc in spec.submodule_search_locations:
            for root, _, files in os.walk(loc):
                total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total
