#!/usr/bin/python3
"""A thread-per-connection listener of the kind the classic sinkhole scripts use:
accept, read the request, log it, answer a fixed page, close.  threaded.py PORT [PORT...]"""
import socket
import sys
import threading

REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n"
         b"Connection: close\r\n\r\n<html></html>")
log = open('/dev/null', 'w')


def handle(conn, addr):
    try:
        data = conn.recv(4096)
        log.write('%s %r\n' % (addr, data[:200]))
        conn.sendall(REPLY)
    finally:
        conn.close()


def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', port))
    s.listen(4096)
    while True:
        c, a = s.accept()
        threading.Thread(target=handle, args=(c, a), daemon=True).start()


for p in sys.argv[2:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
serve(int(sys.argv[1]))
