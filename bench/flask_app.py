"""The `flask` workload (run.sh loads it as ``apps:flask``): a small but real Flask app.

  /                 renders templates/items.html: a Jinja loop over ITEMS rows, autoescaped,
                    with a query argument (?name=) in the heading. The measured URL.
  /api/items/<n>    JSON via jsonify: the first n items (n <= len(ITEMS))
  /health           plain text "ok"

run.sh's check fetches / and /api/items/3 and compares them with what this module expects.
"""

from flask import Flask, abort, jsonify, render_template, request

app = Flask(__name__)

ITEMS = [
    {"id": i, "name": f"item {i}", "price": round(1.5 * i + 0.25, 2), "tags": ["a", "b"] if i % 3 == 0 else []}
    for i in range(1, 21)
]


@app.route("/")
def index():
    name = request.args.get("name", "World")
    return render_template("items.html", name=name, items=ITEMS, total=sum(i["price"] for i in ITEMS))


@app.route("/api/items/<int:count>")
def api_items(count):
    if count > len(ITEMS):
        abort(404)
    return jsonify(count=count, items=ITEMS[:count])


@app.route("/health")
def health():
    return "ok", 200, {"Content-Type": "text/plain"}
