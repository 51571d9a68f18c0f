#!/usr/bin/env python3
"""The web portal in a real browser (Playwright driving headless Chromium) against a running Keyhaven.

  python portal_e2e.py CONFIG_JSON

CONFIG_JSON names the server (`base`, `vaultUrls`, `ca`), the admin's and a Key Vault Secrets User's credentials,
the vaults to use, the Chromium executable and where to save downloads and screenshots. Prints ALL OK and exits 0
when every step passed.
"""
import json
import re
import socket
import sys
from pathlib import Path

_orig = socket.getaddrinfo


def _gai(host, *rest, **kw):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _orig(host, *rest, **kw)


socket.getaddrinfo = _gai

from azure.identity import ClientSecretCredential  # noqa: E402
from azure.keyvault.secrets import SecretClient  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

CFG = json.load(open(sys.argv[1]))
BASE = CFG["base"]
SHOTS = Path(CFG["screenshots"])
DOWNLOADS = Path(CFG["downloads"])
SHOTS.mkdir(parents=True, exist_ok=True)
DOWNLOADS.mkdir(parents=True, exist_ok=True)
_shot_no = [0]


def step(msg):
    print(f"-- {msg}", flush=True)


def check_page(page):
    """Every visible form control has a label, every button and link a name; nothing wider than the window."""
    problems = page.evaluate(
        """() => {
        const out = [];
        for (const el of document.querySelectorAll('input, select, textarea')) {
            if (el.type === 'hidden' || el.hidden || el.closest('[hidden]')) continue;
            const named = (el.labels && el.labels.length) || el.getAttribute('aria-label');
            if (!named) out.push('unlabelled ' + el.tagName + ' ' + (el.name || el.id));
        }
        for (const el of document.querySelectorAll('button, a[href]')) {
            if (!el.textContent.trim() && !el.getAttribute('aria-label')) out.push('nameless ' + el.outerHTML);
        }
        if (document.documentElement.scrollWidth > window.innerWidth + 1) {
            const wide = [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !(e.parentElement && e.parentElement.closest('.table-wrap')))
                .slice(0, 3).map(e => e.tagName + '.' + e.className);
            out.push('page wider than the window: ' + document.documentElement.scrollWidth + ' > '
                     + window.innerWidth + ' at ' + wide.join(', '));
        }
        return out;
    }"""
    )
    assert not problems, f"{page.url}: {problems}"


def shot(page, name):
    check_page(page)
    _shot_no[0] += 1
    page.screenshot(path=str(SHOTS / f"{_shot_no[0]:02d}-{name}.png"), full_page=True)


def sign_in(page, who):
    page.goto(f"{BASE}/portal/")
    expect(page).to_have_url(re.compile(r"/portal/signin$"))
    page.get_by_label("Client ID").fill(who["clientId"])
    page.get_by_label("Client secret").fill(who["clientSecret"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Vaults")).to_be_visible()


def csrf_of(page):
    return page.locator("input[name=csrf]").first.get_attribute("value")


def open_kind(page, vault, kind_title):
    page.goto(f"{BASE}/portal/")
    page.get_by_role("link", name=vault, exact=True).click()
    page.get_by_role("link", name=kind_title, exact=True).click()
    expect(page.get_by_role("heading", name=kind_title)).to_be_visible()


def version_rows(page):
    return page.get_by_role("region", name="Versions").locator("tbody tr")


def download(page, button, pattern):
    with page.expect_download() as d:
        page.get_by_role("button", name=button).click()
    dl = d.value
    assert re.fullmatch(pattern, dl.suggested_filename), dl.suggested_filename
    path = DOWNLOADS / dl.suggested_filename
    dl.save_as(str(path))
    assert path.stat().st_size > 0
    return path


def delete_and_purge(page, vault, kind_title, collection, name):
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"'{name}' was deleted")
    page.get_by_role("link", name=f"Deleted {collection}").click()
    expect(page.get_by_role("heading", name=f"Deleted {collection}")).to_be_visible()
    shot(page, f"deleted-{collection}")
    page.get_by_role("button", name=f"Purge {name}").click()
    expect(page.get_by_role("status")).to_contain_text(f"'{name}' was purged")
    expect(page.get_by_role("button", name=f"Purge {name}")).to_have_count(0)


def restore_file(page, vault, kind_title, path):
    open_kind(page, vault, kind_title)
    page.get_by_role("link", name="Restore Backup").click()
    page.get_by_label("Backup file").set_input_files(str(path))
    page.get_by_role("button", name="Restore", exact=True).click()


def round_trip(page, vault, kind_title, collection, kind, name, versions, check_restored=None):
    """Download Backup, delete and purge, Restore Backup from the file: the object and its versions are back."""
    path = download(page, "Download Backup", rf"{vault}-{name}-\d{{14}}\.{kind}backup")
    delete_and_purge(page, vault, kind_title, collection, name)
    restore_file(page, vault, kind_title, path)
    expect(page.get_by_role("status")).to_contain_text(f"Restored {kind} '{name}' with all its versions")
    shot(page, f"restored-{kind}")
    page.get_by_role("link", name=f"Open {kind} {name}").click()
    expect(version_rows(page)).to_have_count(versions)
    if check_restored:
        check_restored()
    return path


def main():
    admin, user = CFG["admin"], CFG["user"]
    vault, second, third = CFG["vault"], CFG["second"], CFG["third"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CFG["chromium"], args=["--no-sandbox"])
        ctx = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        page = ctx.new_page()
        page.on("dialog", lambda d: d.accept())

        step("sign in: a session cookie that scripts cannot read, sent to this site only; a strict CSP")
        page.goto(f"{BASE}/portal/signin")
        shot(page, "sign-in")
        sign_in(page, admin)
        cookie = next(c for c in ctx.cookies() if c["name"] == "__Host-keyhaven-portal")
        assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict", cookie
        resp = page.goto(f"{BASE}/portal/")
        csp = resp.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp, csp
        expect(page.get_by_role("link", name=vault, exact=True)).to_be_visible()
        shot(page, "vaults")

        step("a secret with two versions; Show value reads each")
        open_kind(page, vault, "Secrets")
        page.get_by_role("link", name="New secret").click()
        page.get_by_label("Name").fill("portal-secret")
        page.get_by_label("Value").fill("first value")
        page.get_by_label("Content type").fill("text/plain")
        shot(page, "new-secret")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", name="portal-secret")).to_be_visible()
        page.get_by_label("New value").fill("second value")
        page.get_by_role("button", name="Add version").click()
        expect(version_rows(page)).to_have_count(2)
        page.get_by_role("button", name="Show value").first.click()
        expect(page.locator("pre.value output")).to_have_text("second value")
        page.get_by_role("button", name="Show value").nth(1).click()
        expect(page.locator("pre.value output")).to_have_text("first value")
        shot(page, "secret")

        step("search and paging find it; a disabled version shows as such and is enabled again")
        open_kind(page, vault, "Secrets")
        page.get_by_label("Search secrets by name").fill("PORTAL-SEC")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("link", name="portal-secret")).to_be_visible()
        page.get_by_label("Search secrets by name").fill("no-such-thing")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_text("No secrets whose name contains 'no-such-thing'")).to_be_visible()
        page.get_by_label("Search secrets by name").fill("")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name="portal-secret").click()
        page.get_by_role("button", name="Disable").first.click()
        expect(version_rows(page).filter(has_text="No")).to_have_count(1)
        page.get_by_role("button", name="Enable").first.click()
        expect(version_rows(page).filter(has_text="No")).to_have_count(0)

        step("Download Backup, Delete, Purge; a corrupted file is refused and changes nothing; the file restores")
        secret_file = download(page, "Download Backup", rf"{vault}-portal-secret-\d{{14}}\.secretbackup")
        delete_and_purge(page, vault, "Secrets", "secrets", "portal-secret")
        data = bytearray(secret_file.read_bytes())
        data[len(data) // 2] ^= 0x5A
        corrupted = DOWNLOADS / "corrupted.secretbackup"
        corrupted.write_bytes(bytes(data))
        restore_file(page, vault, "Secrets", corrupted)
        expect(page.get_by_role("alert")).to_contain_text("Nothing was restored")
        shot(page, "restore-refused")
        open_kind(page, vault, "Secrets")
        expect(page.get_by_role("link", name="portal-secret")).to_have_count(0)
        page.get_by_role("link", name="Deleted secrets").click()
        expect(page.get_by_text("No deleted secrets.")).to_be_visible()
        restore_file(page, vault, "Secrets", secret_file)
        expect(page.get_by_role("status")).to_contain_text("Restored secret 'portal-secret' with all its versions")
        page.get_by_role("link", name="Open secret portal-secret").click()
        expect(version_rows(page)).to_have_count(2)
        page.get_by_role("button", name="Show value").first.click()
        expect(page.locator("pre.value output")).to_have_text("second value")
        page.get_by_role("button", name="Show value").nth(1).click()
        expect(page.locator("pre.value output")).to_have_text("first value")

        step("Recover brings a deleted secret back")
        open_kind(page, vault, "Secrets")
        page.get_by_role("link", name="New secret").click()
        page.get_by_label("Name").fill("recover-me")
        page.get_by_label("Value").fill("back again")
        page.get_by_role("button", name="Create").click()
        page.get_by_role("button", name="Delete", exact=True).click()
        page.get_by_role("link", name="Deleted secrets").click()
        page.get_by_role("button", name="Recover recover-me").click()
        expect(page.get_by_role("status")).to_contain_text("'recover-me' was recovered")
        expect(page.get_by_role("link", name="recover-me")).to_be_visible()

        step("a key with two versions: backup, purge, restore")
        open_kind(page, vault, "Keys")
        for _ in range(2):
            page.get_by_role("link", name="New key").click()
            page.get_by_label("Name").fill("portal-key")
            page.get_by_label("Key type").select_option("EC")
            page.get_by_label("Elliptic curve").select_option("P-384")
            page.get_by_role("button", name="Create").click()
            expect(page.get_by_role("heading", name="portal-key")).to_be_visible()
            page.get_by_role("link", name="Keys", exact=True).click()
        page.get_by_role("link", name="portal-key").click()
        expect(version_rows(page)).to_have_count(2)
        expect(page.get_by_text("P-384")).to_be_visible()
        shot(page, "key")
        round_trip(page, vault, "Keys", "keys", "key", "portal-key", 2)

        step("a self-signed certificate: backup, purge, restore")
        open_kind(page, vault, "Certificates")
        page.get_by_role("link", name="New certificate").click()
        page.get_by_label("Name").fill("portal-cert")
        page.get_by_label("Subject").fill("CN=portal.example")
        page.get_by_label("Validity (months)").fill("6")
        shot(page, "new-certificate")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", name="portal-cert")).to_be_visible()
        thumb = page.locator("dd code").first.text_content()
        assert re.fullmatch(r"[0-9A-F]{40}", thumb), thumb
        shot(page, "certificate")

        def same_thumbprint():
            expect(page.locator("dd code").first).to_have_text(thumb)

        round_trip(page, vault, "Certificates", "certificates", "certificate", "portal-cert", 1, same_thumbprint)

        step("files from the portal and from the SDK restore through each other")
        cred = ClientSecretCredential(
            admin["tenantId"], admin["clientId"], admin["clientSecret"], authority=CFG["authority"],
            disable_instance_discovery=True, connection_verify=CFG["ca"],
        )
        second_client = SecretClient(CFG["vaultUrls"][second], cred, connection_verify=CFG["ca"])
        restored = second_client.restore_secret_backup(secret_file.read_bytes())
        assert restored.name == "portal-secret"
        assert second_client.get_secret("portal-secret").value == "second value"
        first_client = SecretClient(CFG["vaultUrls"][vault], cred, connection_verify=CFG["ca"])
        first_client.set_secret("sdk-made", "from the sdk")
        sdk_file = DOWNLOADS / "sdk-made.blob"
        sdk_file.write_bytes(first_client.backup_secret("sdk-made"))
        restore_file(page, second, "Secrets", sdk_file)
        expect(page.get_by_role("status")).to_contain_text("Restored secret 'sdk-made'")
        assert second_client.get_secret("sdk-made").value == "from the sdk"

        step("paging: 25 to a page, then Next page; search across pages")
        for i in range(27):
            second_client.set_secret(f"page-{i:02d}", "x")
        open_kind(page, second, "Secrets")
        rows = page.get_by_role("region", name="Secrets").locator("tbody tr")
        expect(rows).to_have_count(25)
        page.get_by_role("link", name="Next page").click()
        expect(rows).to_have_count(29 - 25)
        expect(page.get_by_role("link", name="Next page")).to_have_count(0)
        page.get_by_label("Search secrets by name").fill("page-2")
        page.get_by_role("button", name="Search").click()
        expect(rows).to_have_count(7)  # page-20 … page-26, over both listing pages

        step("the whole vault: back up, then a dry run and a restore into another vault")
        page.goto(f"{BASE}/portal/")
        page.get_by_role("link", name=vault, exact=True).click()
        shot(page, "vault")
        page.get_by_role("link", name="Back up vault").click()
        page.get_by_role("button", name="Back up vault").click()
        expect(page.get_by_role("link", name="Download vault backup")).to_be_visible(timeout=60_000)
        shot(page, "vault-backup")
        with page.expect_download() as d:
            page.get_by_role("link", name="Download vault backup").click()
        vault_file = DOWNLOADS / d.value.suggested_filename
        assert re.fullmatch(rf"{vault}-\d{{14}}\.khvs", d.value.suggested_filename), d.value.suggested_filename
        d.value.save_as(str(vault_file))

        page.goto(f"{BASE}/portal/vaults/{third}/restore")
        page.get_by_label("Vault backup file").set_input_files(str(vault_file))
        page.get_by_label("Conflict policy").select_option("fail")
        page.get_by_label("Dry run").check()
        shot(page, "vault-restore")
        page.get_by_role("button", name="Restore vault").click()
        report = page.get_by_role("region", name="Restore report")
        expect(report).to_be_visible(timeout=60_000)
        expect(page.get_by_role("status")).to_contain_text("Dry run")
        expect(report.get_by_role("row").filter(has_text="portal-secret")).to_have_count(1)
        open_kind(page, third, "Secrets")
        expect(page.get_by_text("No secrets yet.")).to_be_visible()

        page.goto(f"{BASE}/portal/vaults/{third}/restore")
        page.get_by_label("Vault backup file").set_input_files(str(vault_file))
        page.get_by_role("button", name="Restore vault").click()
        report = page.get_by_role("region", name="Restore report")
        expect(report).to_be_visible(timeout=60_000)
        expect(page.get_by_role("status")).to_contain_text("Restored:")
        for name in ("portal-secret", "portal-key", "portal-cert", "recover-me"):
            expect(report.get_by_role("row").filter(has_text=name).first).to_contain_text("restored")
        shot(page, "vault-restore-report")
        open_kind(page, third, "Secrets")
        page.get_by_role("link", name="portal-secret").click()
        expect(version_rows(page)).to_have_count(2)
        page.get_by_role("button", name="Show value").first.click()
        expect(page.locator("pre.value output")).to_have_text("second value")

        step("a form posted without the CSRF token (or with another) is refused and changes nothing")
        target = f"{BASE}/portal/vaults/{vault}/secrets/objects/recover-me/delete"
        r = page.request.post(target, form={"x": "1"}, max_redirects=0)
        assert r.status == 403, r.status
        r = page.request.post(target, form={"csrf": "forged"}, max_redirects=0)
        assert r.status == 403, r.status
        r = page.request.get(f"{BASE}/portal/vaults/{vault}/secrets/objects/recover-me")
        assert r.status == 200, r.status

        r = page.request.get(f"{BASE}/portal/no/such/page")
        assert r.status == 404 and "There is no such page." in r.text(), r.status

        step("phone width")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{BASE}/portal/")
        shot(page, "phone-vaults")
        page.goto(f"{BASE}/portal/vaults/{vault}/secrets/objects/portal-secret")
        shot(page, "phone-secret")
        page.set_viewport_size({"width": 1280, "height": 800})

        step("Sign out ends the session")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/portal/signin$"))
        page.goto(f"{BASE}/portal/vaults/{vault}")
        expect(page).to_have_url(re.compile(r"/portal/signin$"))

        step("a Key Vault Secrets User, signed in with the keyboard alone: values yes, Download Backup no")
        user_ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
        upage = user_ctx.new_page()
        upage.goto(f"{BASE}/portal/signin")
        upage.get_by_label("Client ID").focus()
        upage.keyboard.type(user["clientId"])
        upage.keyboard.press("Tab")
        assert upage.evaluate("document.activeElement.id") == "client-secret"
        upage.keyboard.type(user["clientSecret"])
        upage.keyboard.press("Enter")
        expect(upage.get_by_role("heading", name="Vaults")).to_be_visible()
        upage.get_by_role("link", name=vault, exact=True).click()
        upage.get_by_role("link", name="Secrets", exact=True).click()
        expect(upage.get_by_role("link", name="New secret")).to_have_count(0)
        expect(upage.get_by_role("link", name="Restore Backup")).to_have_count(0)
        upage.get_by_role("link", name="portal-secret").click()
        expect(version_rows(upage)).to_have_count(2)
        expect(upage.get_by_role("button", name="Download Backup")).to_have_count(0)
        expect(upage.get_by_role("button", name="Delete", exact=True)).to_have_count(0)
        upage.get_by_role("button", name="Show value").first.click()
        expect(upage.locator("pre.value output")).to_have_text("second value")
        shot(upage, "secrets-user")
        token = csrf_of(upage)
        base = f"{BASE}/portal/vaults/{vault}/secrets/objects/portal-secret"
        r = upage.request.post(f"{base}/backup", form={"csrf": token}, max_redirects=0)
        assert r.status == 403, r.status
        assert "secretbackup" not in (r.headers.get("content-disposition") or "")
        r = upage.request.post(f"{base}/delete", form={"csrf": token}, max_redirects=0)
        assert r.status == 403, r.status
        user_ctx.close()

        browser.close()
    print("ALL OK")


if __name__ == "__main__":
    main()
