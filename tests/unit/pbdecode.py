#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Decodes a stream of length-delimited io.prometheus.client.MetricFamily messages (the protobuf
exposition format) with Debian's python3-protobuf, independently of promfcgi's encoder.

Usage: pbdecode.py FILE   prints each message in protobuf text format, then a line '---', with
doubles written as protoc writes them (%.15g, or %.17g when that does not read back the same)
rather than as Python's repr (3.0), so the text can be compared with protoc --decode's.
The Python module is generated at run time by protoc from proto/io/prometheus/client/metrics.proto.
Exits 1 if the stream does not split into whole messages or a message does not parse.
"""
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

from google.protobuf import text_format
from google.protobuf.internal.decoder import _DecodeVarint32

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_module(tmp):
    subprocess.run(["protoc", "-I", os.path.join(TOP, "proto"), "-I", "/usr/include",
                    "--python_out", tmp, "io/prometheus/client/metrics.proto"], check=True)
    path = os.path.join(tmp, "io", "prometheus", "client", "metrics_pb2.py")
    # not "import io.prometheus...": io is the standard library's
    spec = importlib.util.spec_from_file_location("metrics_pb2", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


NUMBER = re.compile(r"(?<=: )-?[0-9]+(\.[0-9]*)?(e[-+]?[0-9]+)?$", re.M)


def protoc_double(m):
    text = m.group(0)
    if "." not in text and "e" not in text:
        return text  # an integer field
    v = float(text)
    s = "%.15g" % v
    return s if float(s) == v else "%.17g" % v


def main():
    data = open(sys.argv[1], "rb").read()
    with tempfile.TemporaryDirectory() as tmp:
        pb = load_module(tmp)
        pos = 0
        while pos < len(data):
            n, pos = _DecodeVarint32(data, pos)
            if pos + n > len(data):
                print("truncated message at %d" % pos, file=sys.stderr)
                return 1
            m = pb.MetricFamily()
            m.ParseFromString(data[pos:pos + n])
            pos += n
            sys.stdout.write(NUMBER.sub(protoc_double, text_format.MessageToString(m)))
            print("---")
    return 0


if __name__ == "__main__":
    sys.exit(main())
