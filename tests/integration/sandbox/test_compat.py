"""The Python (`requests`) and cURL examples of Push.R's API documentation, run as written.

Only the base URL (`https://pushr.pywe.org/api/client` -> the sandbox's) and the placeholder
keys (-> the demo keys) are swapped; curl also gets `-sS -w` to report the status code.
The documentation's copy of the Python example lost its indentation; it is restored.
"""

import json
import subprocess
import sys

from service.devkit.sandbox import DEMO_PUBLIC_KEY, DEMO_SECRET_KEY, RunningSandbox

PYTHON_EXAMPLE = """\
import requests
# Send SMS using API keys
url = "https://pushr.pywe.org/api/client/sms/send-sms"
headers = {"Content-Type": "application/json"}
data = {
"api_key_public": "your_public_key",
"api_key_secret": "your_secret_key",
"message": "Hello from Python! This is a test message.",
"recipients": ["233558544343", "233548769324"],
"sender_id": "PYWE"
}
response = requests.post(url, json=data, headers=headers)
if response.status_code == 201:
    result = response.json()
    print(f"Message sent! ID: {result['id']}, Cost: GHS {result['cost']}")
else:
    print(f"Error: {response.json()}")
"""

CURL_EXAMPLE = """\
# Send SMS with API keys
curl -X POST https://pushr.pywe.org/api/client/sms/send-sms \\
-H "Content-Type: application/json" \\
-d '{
"api_key_public": "your_public_key",
"api_key_secret": "your_secret_key",
"message": "Hello from cURL!",
"recipients": ["233558544343"],
"sender_id": "PYWE"
}'"""


def localise(example: str, sandbox: RunningSandbox) -> str:
    return (
        example.replace("https://pushr.pywe.org/api/client", sandbox.url)
        .replace("your_public_key", DEMO_PUBLIC_KEY)
        .replace("your_secret_key", DEMO_SECRET_KEY)
    )


def test_python_requests_example(sandbox: RunningSandbox) -> None:
    out = subprocess.run(
        [sys.executable, "-c", localise(PYTHON_EXAMPLE, sandbox)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert out.stdout == "Message sent! ID: 1, Cost: GHS 0.06\n"
    (record,) = sandbox.traffic.accepted_requests()
    assert record.recipients_count == 2


def test_curl_example(sandbox: RunningSandbox) -> None:
    script = localise(CURL_EXAMPLE, sandbox) + ' -sS -w "\\n%{http_code}"'
    out = subprocess.run(
        ["/bin/bash", "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "201"
    result = json.loads(body)
    assert list(result) == [
        "id",
        "business",
        "message",
        "status",
        "created",
        "cost",
        "sender_id",
        "recipients_count",
    ]
    assert (result["message"], result["cost"], result["recipients_count"]) == (
        "Hello from cURL!",
        "0.03",
        1,
    )
    assert sandbox.traffic.sends_for("233558544343", "Hello from cURL!") == 1
