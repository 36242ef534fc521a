"""URL signals and the URL blocklist (`quality.url`)."""

from __future__ import annotations

from quality import url


def test_domain_and_tld():
    assert url.url_signals("https://www.Docs.Python.org:443/3/library/grp.html") == {
        url.DOMAIN: "docs.python.org", url.TLD: "org"}
    assert url.url_signals(None) == {} and url.url_signals("not a url") == {}
    assert url.url_signals("http://[::1") == {}  # an invalid URL is no signal, not an error


def test_blocklist_domains_block_subdomains_and_urls_block_themselves():
    block = url.Blocklist(["# comment", "", "spam.example", "*.ads.test",
                           "https://ok.example/bad/page/", "ok.example/other?x=1"])
    assert block.blocked("http://spam.example/a") and block.blocked("https://a.b.spam.example/")
    assert block.blocked("https://x.ads.test/") and block.blocked("http://ads.test")
    assert not block.blocked("https://notspam.example/") and not block.blocked("https://example/")
    assert block.blocked("http://ok.example/bad/page#top") and block.blocked("https://OK.example/other?x=1")
    assert not block.blocked("https://ok.example/bad") and not block.blocked("https://ok.example/other")
    assert not block.blocked("") and not block.blocked("mailto:")
