"""The proxy's configuration is a pure function of the live routes (issue 21): plain values in, Caddy's JSON out."""
import pytest
import requests

from deployer.errors import ConfigError
from deployer.preflight import proxy_check, run_checks
from deployer.providers.proxy import CaddyProxy, caddy_config
from deployer.settings import Settings

ROUTES = {"feature-x.preview.test": "172.18.0.5:8080", "b-2.preview.test": "172.18.0.6:9090"}


def _config(routes=ROUTES, https_port=443, http_port=80):
    return caddy_config("preview.test", routes, https_port=https_port, http_port=http_port,
                        admin_listen="127.0.0.1:2019")


def _servers(config):
    return config["apps"]["http"]["servers"]


def test_one_route_per_host_to_its_upstream_then_a_404_for_any_other_host():
    routes = _servers(_config())["environments"]["routes"]
    assert [(r["match"][0]["host"], r["handle"][0]["upstreams"][0]["dial"]) for r in routes[:-1]] == [
        (["b-2.preview.test"], "172.18.0.6:9090"), (["feature-x.preview.test"], "172.18.0.5:8080")]
    assert all(r["handle"][0]["handler"] == "reverse_proxy" and r["terminal"] for r in routes[:-1])
    assert "match" not in routes[-1] and routes[-1]["handle"][0]["status_code"] == 404


def test_no_routes_still_serves_https_and_answers_404():
    server = _servers(_config({}))["environments"]
    assert len(server["routes"]) == 1 and server["routes"][0]["handle"][0]["status_code"] == 404
    assert server["tls_connection_policies"] == [{}]


def test_https_on_its_port_with_one_wildcard_certificate_from_caddys_own_ca():
    config = _config(https_port=8443, http_port=8080)
    assert _servers(config)["environments"]["listen"] == [":8443"]
    tls = config["apps"]["tls"]
    assert tls["certificates"]["automate"] == ["*.preview.test"]
    (policy,) = tls["automation"]["policies"]
    assert policy == {"subjects": ["*.preview.test"], "issuers": [{"module": "internal"}]}
    # The hosts are covered by the wildcard: no certificate of their own to wait for.
    assert _servers(config)["environments"]["automatic_https"]["skip_certificates"] == sorted(ROUTES)
    assert config["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False


@pytest.mark.parametrize("https_port,location", [
    (443, "https://{http.request.host}{http.request.uri}"),
    (8443, "https://{http.request.host}:8443{http.request.uri}"),
])
def test_plain_http_redirects_to_https_on_its_port(https_port, location):
    redirect = _servers(_config(https_port=https_port, http_port=8080))["redirect"]
    assert redirect["listen"] == [":8080"] and redirect["automatic_https"] == {"disable": True}
    (handler,) = redirect["routes"][0]["handle"]
    assert handler["status_code"] == 308 and handler["headers"]["Location"] == [location]


def test_the_admin_api_stays_where_it_was_started():
    assert _config()["admin"] == {"listen": "127.0.0.1:2019"}


def test_same_routes_same_config_whatever_their_order():
    assert _config(dict(reversed(list(ROUTES.items())))) == _config()


@pytest.mark.parametrize("port,url", [(443, "https://feature-x.preview.test"),
                                      (8443, "https://feature-x.preview.test:8443")])
def test_urls_carry_the_port_unless_it_is_443(port, url):
    assert CaddyProxy("http://127.0.0.1:2019", "preview.test", https_port=port, http_port=80).url("feature-x") == url


class Refusing(requests.Session):
    def request(self, *args, **kwargs):
        raise requests.ConnectionError("refused")


def test_an_admin_api_that_does_not_answer_is_a_config_error_saying_what_to_do():
    proxy = CaddyProxy("http://127.0.0.1:1", "preview.test", https_port=443, http_port=80, session=Refusing())
    with pytest.raises(ConfigError) as raised:
        proxy.check()
    assert "DEPLOYBOT_PROXY_ADMIN" in raised.value.message and "caddy run" in raised.value.message


def test_start_up_refuses_while_the_proxy_is_away_and_says_what_to_start():
    proxy = CaddyProxy("http://127.0.0.1:1", "preview.test", https_port=443, http_port=80, session=Refusing())
    with pytest.raises(ConfigError) as raised:
        run_checks([proxy_check(proxy)])
    (problem,) = raised.value.details
    assert "DEPLOYBOT_PROXY_ADMIN" in problem and "scripts/start.sh" in problem


def test_proxy_settings_have_defaults_and_are_checked():
    settings = Settings(_env_file=None, git_url="file:///repo")
    assert (settings.proxy_https_port, settings.proxy_http_port, settings.proxy_admin, settings.proxy_network) == (
        443, 80, "http://127.0.0.1:2019", "deploybot")
    for bad in ({"proxy_admin": "127.0.0.1:2019"}, {"proxy_network": "container:x"}, {"proxy_https_port": 0}):
        with pytest.raises(ValueError):
            Settings(_env_file=None, git_url="file:///repo", **bad)


def _gated(routes=ROUTES, probes=None):
    return caddy_config("preview.test", routes, https_port=443, http_port=80, admin_listen="127.0.0.1:2019",
                        allow=["10.0.0.0/8", "203.0.113.7/32"], probes=probes)


def test_public_routes_go_straight_to_the_app_and_never_pass_it_a_probe_token():
    for route in _servers(_config())["environments"]["routes"][:-1]:
        (handler,) = route["handle"]
        assert handler["headers"]["request"]["delete"] == ["X-Deploybot-Probe"]


def test_with_an_allow_list_other_addresses_get_the_proxys_403_and_the_probe_gets_through():
    routes = _servers(_gated(probes={"feature-x.preview.test": "tok"}))["environments"]["routes"]
    by_host = {r["match"][0]["host"][0]: r["handle"][0] for r in routes[:-1]}
    let_in, refused = by_host["feature-x.preview.test"]["routes"]
    assert let_in["match"] == [{"remote_ip": {"ranges": ["10.0.0.0/8", "203.0.113.7/32"]}},
                               {"header": {"X-Deploybot-Probe": ["tok"]}}]
    assert let_in["handle"][0]["upstreams"] == [{"dial": "172.18.0.5:8080"}] and let_in["terminal"]
    assert "match" not in refused and refused["handle"][0]["status_code"] == 403
    assert refused["handle"][0]["headers"] == {"X-Deploybot-Gate": ["closed"]}
    # A host with no token (a container from before the gate): only the allowed addresses.
    let_in, _ = by_host["b-2.preview.test"]["routes"]
    assert let_in["match"] == [{"remote_ip": {"ranges": ["10.0.0.0/8", "203.0.113.7/32"]}}]
    assert routes[-1]["handle"][0]["status_code"] == 404  # unknown hosts: the same 404 as ever


@pytest.mark.parametrize("value,allowed", [
    ("public", ()), ("", ()), (" 10.1.2.3/8 , 203.0.113.7", ("10.0.0.0/8", "203.0.113.7/32")),
    ("2001:db8::/32", ("2001:db8::/32",)), ("Basic", ()),
])
def test_access_is_public_or_a_list_of_cidrs(value, allowed):
    settings = Settings(_env_file=None, git_url="file:///repo", domain="preview.test", access=value)
    assert settings.allowed_networks == allowed


@pytest.mark.parametrize("bad,says", [
    ({"access": "10.0.0.0/33", "domain": "preview.test"}, "not one"),
    ({"access": "basic"}, "needs DEPLOYBOT_DOMAIN"),
    ({"access": "10.0.0.0/8"}, "needs DEPLOYBOT_DOMAIN"),
    ({"access": "basic", "domain": "preview.test", "provider": "beanstalk", "eb_application": "a",
      "eb_template": "t", "s3_bucket": "b", "hosted_zone_id": "Z1"}, "can't ask for a password"),
])
def test_access_refuses_what_it_cannot_do(bad, says):
    with pytest.raises(ValueError) as raised:
        Settings(_env_file=None, git_url="file:///repo", **bad)
    assert says in str(raised.value)


def test_with_passwords_each_host_asks_for_its_own_and_the_probe_gets_through():
    config = caddy_config("preview.test", ROUTES, https_port=443, http_port=80, admin_listen="127.0.0.1:2019",
                          probes={"feature-x.preview.test": "tok"},
                          accounts={"feature-x.preview.test": ("preview", "aGFzaA==")})
    routes = _servers(config)["environments"]["routes"]
    by_host = {r["match"][0]["host"][0]: r["handle"][0]["routes"] for r in routes[:-1]}
    probe, asked = by_host["feature-x.preview.test"]
    assert probe["match"] == [{"header": {"X-Deploybot-Probe": ["tok"]}}]
    authentication, proxied = asked["handle"]
    assert authentication["providers"]["http_basic"]["accounts"] == [{"username": "preview", "password": "aGFzaA=="}]
    assert authentication["providers"]["http_basic"]["hash"] == {"algorithm": "bcrypt"}
    assert proxied["upstreams"] == [{"dial": "172.18.0.5:8080"}]
    # A container from before the gate has no password yet: closed until its redeploy gives it one.
    (closed,) = by_host["b-2.preview.test"]
    assert closed["handle"][0]["status_code"] == 403 and "redeploy" in closed["handle"][0]["body"]


def test_a_password_is_kept_as_caddy_takes_it_and_never_shown_by_repr():
    import base64

    import bcrypt

    from deployer.access import Credentials
    made = Credentials.generate()
    assert made.user == "preview" and len(made.password) >= 20 and made.password not in repr(made)
    assert bcrypt.checkpw(made.password.encode(), base64.b64decode(made.caddy_hash()))
