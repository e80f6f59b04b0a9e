"""The seed's example (CherryPy's wsgiserver), with only the import changed.

Two additions for tests and scripts: the port comes from the first argument or
$PORT (default 8070; 0 picks a free port), and logging is enabled so that the
bound address is printed on standard error once the server listens::

    python examples/seed.py 0
    ... morello/0.1.0: serving http://127.0.0.1:40321
"""

import logging
import os
import sys

from morello import wsgiserver

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("PORT", "8070"))


def my_crazy_app(environ, start_response):
    status = '200 OK'
    response_headers = [('Content-type', 'text/plain')]
    start_response(status, response_headers)
    return [b'Hello world!']


def my_blog_app(environ, start_response):
    status = '200 OK'
    response_headers = [('Content-type', 'text/plain')]
    start_response(status, response_headers)
    return [b'blog']


wsgi_apps = [('/', my_crazy_app), ('/blog', my_blog_app)]

server = wsgiserver.CherryPyWSGIServer(('localhost', PORT), wsgi_apps, server_name='localhost')

if __name__ == '__main__':
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server.start()
    except KeyboardInterrupt:
        server.stop()
