#!/usr/bin/python3
"""A minimal image streamer for `criu dump|restore --stream` tests.

usage: fake-img-streamer.py capture|serve IMAGES_DIR STORE_DIR

capture: listens on IMAGES_DIR/streamer-capture.sock (criu dump --stream
         -D IMAGES_DIR connects there) and stores every image CRIU sends
         as STORE_DIR/NAME.
serve:   listens on IMAGES_DIR/streamer-serve.sock (criu restore --stream)
         and sends the images of STORE_DIR that CRIU asks for.

One CRIU run per streamer: it exits 0 when CRIU closes the connection and
every file is through, 1 on a protocol error (one line on stderr). The
socket appears (by rename) only once it listens, so a waiting test can
connect as soon as it sees it.

The protocol (criu/img-streamer.c, images/img-streamer.proto): on one
UNIX stream connection CRIU sends, per image, a request (u32 length +
img_streamer_request_entry{filename}); on restore the streamer replies
(u32 length + img_streamer_reply_entry{exists}); then CRIU sends one end
of a pipe with SCM_RIGHTS (one dummy byte) and the image travels through
the pipe: from CRIU on dump, to CRIU on restore.
"""
import os
import socket
import struct
import sys
import threading


def die(msg):
    print(f"fake-img-streamer: {msg}", file=sys.stderr)
    sys.exit(1)


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            return None
        buf += part
    return buf


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def request_filename(msg):
    """img_streamer_request_entry: field 1 (filename), length-delimited."""
    i = 0
    while i < len(msg):
        key, i = varint(msg, i)
        if key & 7 != 2:
            die(f"unexpected wire type in request: key {key}")
        n, i = varint(msg, i)
        if key >> 3 == 1:
            return msg[i:i + n].decode()
        i += n
    die("request without a filename")


def reply(conn, exists):
    msg = bytes([0x08, 1 if exists else 0])  # img_streamer_reply_entry{exists}
    conn.sendall(struct.pack("I", len(msg)) + msg)


def recv_pipe(conn):
    _, fds, _, _ = socket.recv_fds(conn, 1, 1)
    if len(fds) != 1:
        die("no pipe fd with the request")
    return fds[0]


def pump_in(fd, path):
    with os.fdopen(fd, "rb") as src, open(path, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)


def pump_out(fd, path):
    with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
        while chunk := src.read(1 << 20):
            try:
                dst.write(chunk)
            except BrokenPipeError:  # CRIU read what it needed
                return


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("capture", "serve"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    mode, images, store = sys.argv[1:]
    os.makedirs(store, exist_ok=True)
    sock_path = os.path.join(images, f"streamer-{mode}.sock")
    tmp_path = sock_path + ".tmp"
    for p in (sock_path, tmp_path):
        if os.path.exists(p):
            os.unlink(p)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(tmp_path)
    srv.listen(1)
    os.rename(tmp_path, sock_path)
    conn, _ = srv.accept()
    srv.close()

    pumps = []
    while True:
        head = recv_exact(conn, 4)
        if head is None:
            break
        (n,) = struct.unpack("I", head)
        msg = recv_exact(conn, n)
        if msg is None:
            die("connection closed inside a request")
        name = request_filename(msg)
        path = os.path.join(store, os.path.basename(name))
        if mode == "serve":
            exists = os.path.isfile(path)
            reply(conn, exists)
            if not exists:
                continue
        fd = recv_pipe(conn)
        th = threading.Thread(target=pump_in if mode == "capture" else pump_out, args=(fd, path))
        th.start()
        pumps.append(th)
    for th in pumps:
        th.join()
    os.unlink(sock_path)


if __name__ == "__main__":
    main()
