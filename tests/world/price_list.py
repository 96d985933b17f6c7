"""A local stand-in for the AWS Price List Query API (`pricing`), which moto lacks (issue 22).

It answers `GetProducts` (JSON 1.1, `X-Amz-Target: AWSPriceListService.GetProducts`) as the API reference
documents it: `FormatVersion` `aws_v1`, `PriceList` a list of JSON *strings*, each a product with its
`product.attributes` and `terms.OnDemand.<offer>.priceDimensions.<rate>.pricePerUnit.USD`, filtered by every
`TERM_MATCH` filter given (all must match), `MaxResults` a page with a `NextToken`. It holds on-demand Linux
prices for a few EC2 instance types and the Application Load Balancer's hourly price, per region, and counts
the calls. `down()` makes it answer 503 (ServiceUnavailableException) until `up()`.

boto3 reaches it with `AWS_ENDPOINT_URL_PRICING` (a service-specific endpoint), leaving every other service on
moto.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

# Hourly on-demand Linux prices (USD) as the Price List publishes them for us-east-1 and eu-central-1.
EC2 = {("us-east-1", "t3.micro"): "0.0104000000", ("us-east-1", "t3.small"): "0.0208000000",
       ("us-east-1", "t3.medium"): "0.0416000000", ("eu-central-1", "t3.small"): "0.0240000000"}
ALB = {"us-east-1": "0.0225000000", "eu-central-1": "0.0270000000"}


def _product(sku: str, service: str, family: str, attributes: dict[str, str], usd: str, unit: str = "Hrs") -> str:
    offer, rate = f"{sku}.JRTCKXETXF", f"{sku}.JRTCKXETXF.6YS6EN2CT7"
    return json.dumps({
        "product": {"productFamily": family, "attributes": {"servicecode": service, **attributes}, "sku": sku},
        "serviceCode": service,
        "terms": {"OnDemand": {offer: {"offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2026-11-01",
                                       "priceDimensions": {rate: {"unit": unit, "pricePerUnit": {"USD": usd},
                                                                  "description": f"${usd} per hour",
                                                                  "rateCode": rate}}}}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z",
    })


def catalogue() -> list[tuple[str, dict[str, str], str]]:
    """(service code, attributes, product JSON) for every product the stand-in holds."""
    products = []
    for n, ((region, instance_type), usd) in enumerate(sorted(EC2.items())):
        for tenancy in ("Shared", "Dedicated"):  # a filter that forgets tenancy gets two: deploybot's must not
            attributes = {"instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux",
                          "tenancy": tenancy, "preInstalledSw": "NA", "capacitystatus": "Used"}
            price = usd if tenancy == "Shared" else f"{float(usd) * 1.1:.10f}"
            products.append(("AmazonEC2", attributes,
                             _product(f"EC2SKU{n}{tenancy[0]}", "AmazonEC2", "Compute Instance", attributes, price)))
    for n, (region, usd) in enumerate(sorted(ALB.items())):
        attributes = {"regionCode": region, "usagetype": f"{region.upper()}-LoadBalancerUsage",
                      "productFamily": "Load Balancer-Application", "operation": "LoadBalancing:Application"}
        products.append(("AWSELB", attributes,
                         _product(f"ALBSKU{n}", "AWSELB", "Load Balancer-Application", attributes, usd)))
    return products


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class PriceListStandIn:
    def __init__(self) -> None:
        self._products = catalogue()
        self._server: BaseWSGIServer | None = None
        self._lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self._down = False

    def __enter__(self) -> "PriceListStandIn":
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        threading.Thread(target=self._server.serve_forever, name="price-list-standin", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    def down(self) -> None:
        self._down = True

    def up(self) -> None:
        self._down = False

    def _app(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        target = request.headers.get("X-Amz-Target", "")
        body = json.loads(request.get_data() or b"{}")
        with self._lock:
            self.calls.append({"target": target, **body})
        if self._down:
            return self._error(503, "ServiceUnavailableException", "Service is unavailable")(environ, start_response)
        if target != "AWSPriceListService.GetProducts":
            return self._error(400, "UnknownOperationException", target)(environ, start_response)
        return self._json(self._get_products(body))(environ, start_response)

    def _get_products(self, body: dict[str, Any]) -> dict[str, Any]:
        filters = [(f["Field"], f["Value"]) for f in body.get("Filters", []) if f.get("Type") == "TERM_MATCH"]
        found = [text for service, attributes, text in self._products if service == body.get("ServiceCode")
                 and all(attributes.get(field) == value for field, value in filters)]
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or 100)
        page = found[start:start + size]
        more = start + size < len(found)
        return {"FormatVersion": "aws_v1", "PriceList": page, **({"NextToken": str(start + size)} if more else {})}

    @staticmethod
    def _json(payload: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(payload), status=status, content_type="application/x-amz-json-1.1")

    def _error(self, status: int, code: str, message: str) -> Response:
        return self._json({"__type": code, "message": message}, status)
