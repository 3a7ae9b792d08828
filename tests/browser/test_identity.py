"""Identity-level step-up in a real browser: a resident opens their own space, which needs a verified phone; the
pages lead them through sign-in and a one-time code and back to where they were going."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .support import PASSWORD, LiveServer, screenshot


def test_step_up_leads_through_verification_and_back(live_server: LiveServer, mobile_page: Page) -> None:
    page = mobile_page
    page.context.clear_cookies()
    page.goto(live_server.url("/me"))
    page.wait_for_url("**/login?next=/me")
    page.get_by_label("用户名").fill("resident2")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()

    # Their space needs identity level 1: a phone number verified by a one-time code.
    page.wait_for_url(re.compile(r".*/verify\?level=1&next=%2Fme$"))
    expect(page.get_by_role("heading", name="验证身份")).to_be_visible()
    page.get_by_label("手机号码").fill("13700001111")
    page.get_by_role("button", name="发送验证码", exact=True).click()
    expect(page.locator("#code-sent")).to_contain_text("13700001111")
    shown = page.locator(
        "#demo-code"
    ).inner_text()  # test environment: the text message is recorded, not sent
    code = re.search(r"(\d{6})", shown)
    assert code, shown
    screenshot(page, "identity-step-up-zh")
    page.get_by_label("验证码").fill("000000")
    page.get_by_role("button", name="确认").click()
    expect(page.locator(".error")).to_be_visible()
    # A wrong code keeps the person on the page; the right one takes them back to what they were doing.
    page.goto(live_server.url("/verify?level=1&next=/me"))
    page.get_by_label("手机号码").fill("13700001111")
    page.get_by_role("button", name="发送验证码", exact=True).click()
    code = re.search(r"(\d{6})", page.locator("#demo-code").inner_text())
    assert code
    page.get_by_label("验证码").fill(code.group(1))
    page.get_by_role("button", name="确认").click()
    page.wait_for_url("**/me")
    expect(page.get_by_role("heading", name="我的诉求和数据")).to_be_visible()
    expect(page.locator("dd", has_text="13700001111")).to_be_visible()
    screenshot(page, "identity-my-space-zh")
    # The verified phone can now be shared with the units handling the person's requests (nothing until chosen).
    sharing = page.get_by_label("我已验证的手机号码（13700001111）")
    expect(sharing).not_to_be_checked()
    sharing.check()
    page.locator("#save-sharing").click()
    page.wait_for_url("**/me?done=saved#sharing")
    expect(page.get_by_label("我已验证的手机号码（13700001111）")).to_be_checked()
