#!/usr/bin/env python3
"""Serves a directory of test channels over HTTP on 127.0.0.1, like a channel server.

    serve.py DIR [PORT] [--exit-on-stdin-eof]

PORT 0 (the default) picks a free port. The first line on stdout is the port; every request is
logged on stderr. Files are served as they are; a directory is a small HTML listing (200, as
nix-channel first downloads the channel URL itself before URL/nixexprs.tar.xz); a path through
a symbolic link to a directory (OUTDIR/nixos-24.11 -> releases/nixos-24.11.710315...) answers
302 with the link's target, as channels.nixos.org redirects a channel to its current release;
anything missing or outside DIR is 404. With --exit-on-stdin-eof it stops when its stdin closes,
so a test process that dies cannot leave it behind. Standard library only.
"""

import html
import mimetypes
import os
import posixpath
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(root):
    class Handler(BaseHTTPRequestHandler):
        server_version = "nixfleet-test-channels/1"
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.respond(body=True)

        def do_HEAD(self):
            self.respond(body=False)

        def respond(self, body):
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            parts = [p for p in path.split("/") if p]
            if any(p in (".", "..") or "\0" in p for p in parts):
                return self.send_text(404, "not found\n", body)

            # Walk the path: the first component that is a link to a directory redirects.
            current = root
            for i, part in enumerate(parts):
                current = os.path.join(current, part)
                if os.path.islink(current) and os.path.isdir(current):
                    target = os.readlink(current)
                    if os.path.isabs(target):
                        return self.send_text(404, "not found\n", body)
                    base = "/".join(parts[:i])
                    resolved = posixpath.normpath(posixpath.join("/", base, target))
                    rest = parts[i + 1:]
                    location = resolved + ("/" + "/".join(rest) if rest else "")
                    if path.endswith("/") and not location.endswith("/"):
                        location += "/"
                    return self.send_redirect(urllib.parse.quote(location), body)

            real = os.path.realpath(current)
            if real != root and not real.startswith(root + os.sep):
                return self.send_text(404, "not found\n", body)
            if os.path.isdir(real):
                return self.send_listing(path, real, body)
            if os.path.isfile(real):
                return self.send_file(real, body)
            return self.send_text(404, "not found\n", body)

        def send_file(self, real, body):
            with open(real, "rb") as f:
                data = f.read()
            kind = mimetypes.guess_type(real)[0] or "application/octet-stream"
            if real.endswith(".tar.xz"):
                kind = "application/x-xz"
            self.send_bytes(200, data, kind, body)

        def send_listing(self, path, real, body):
            names = sorted(os.listdir(real))
            items = "".join(
                '<li><a href="{0}">{0}</a></li>\n'.format(html.escape(n)) for n in names)
            page = "<!DOCTYPE html>\n<html><head><title>{0}</title></head><body>\n<h1>{0}</h1>\n<ul>\n{1}</ul>\n</body></html>\n".format(
                html.escape(path), items)
            self.send_bytes(200, page.encode(), "text/html; charset=utf-8", body)

        def send_redirect(self, location, body):
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def send_text(self, status, text, body):
            self.send_bytes(status, text.encode(), "text/plain; charset=utf-8", body)

        def send_bytes(self, status, data, kind, body):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, format, *args):
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))
            sys.stderr.flush()

    return Handler


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    if len(args) not in (1, 2) or any(f != "--exit-on-stdin-eof" for f in flags):
        sys.stderr.write("usage: serve.py DIR [PORT] [--exit-on-stdin-eof]\n")
        return 2
    root = os.path.realpath(args[0])
    if not os.path.isdir(root):
        sys.stderr.write("serve.py: %s is not a directory\n" % args[0])
        return 2
    port = int(args[1]) if len(args) == 2 else 0

    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(root))
    server.daemon_threads = True
    sys.stdout.write("%d\n" % server.server_address[1])
    sys.stdout.flush()

    if "--exit-on-stdin-eof" in flags:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            server.shutdown()
        threading.Thread(target=watch, daemon=True).start()

    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
