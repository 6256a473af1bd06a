"""The notice as a web page: the government site publishes it as HTML, and staff save the page.

- `notices/notice-libreoffice-7.4.html`: LibreOffice 7.4's HTML export of the notice's .docx (`soffice
  --headless --convert-to html`), kept as made: tables of `<td><p><font>` with the digits outside the
  font runs, text wrapped over source lines.
- The same body as a government site serves it (built here around LibreOffice's body): GB2312 with its
  `<meta charset>`, the site's menu, breadcrumb, date line, print and close links and footer around the
  text; once in a `div` (a TRS-style editor box), once inside the layout tables older sites are built of.
- That page saved by a browser as "web page, single file" (.mhtml): Blink's MIME layout (`From: <Saved by
  Blink>`, multipart/related, the page quoted-printable), made here from the page, no Blink with a save
  command being at hand; and one whose part header names the charset the archive re-encoded it in.

Before, each was refused as "no yearly plan table": its markup was read as text.
"""

from __future__ import annotations

import quopri
import re
from pathlib import Path

import pytest
from notice_expected import assert_same_notice

from regreen.errors import RegreenError
from regreen.plan import Plan, parse_notice
from regreen.project import BUNDLED_NOTICE

NOTICES = Path(__file__).parent / "notices"
EXPORTED = NOTICES / "notice-libreoffice-7.4.html"


@pytest.fixture(scope="module")
def bundled() -> Plan:
    return parse_notice(BUNDLED_NOTICE)


def _body() -> str:
    return re.search(r"<body[^>]*>(.*)</body>", EXPORTED.read_text(encoding="utf-8"), re.DOTALL)[1]


def _site_page(body: str, layout_tables: bool = False) -> str:
    """`body` as the district's site would serve it: menus, breadcrumb and footer around it, GB2312."""
    if layout_tables:
        body = (
            '<table width="100%"><tr><td class="left">栏目导航<br/>通知公告</td>'
            f"<td><table><tr><td>{body}</td></tr></table></td></tr></table>"
        )
    else:
        body = f'<div class="TRS_Editor"><div class="Custom_UnionStyle">{body}</div></div>'
    return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head>
<meta http-equiv="Content-Type" content="text/html; charset=gb2312" />
<title>泉州台商投资区管理委员会办公室关于印发全区废弃矿山生态修复三年行动方案的通知_通知公告</title>
<script type="text/javascript">var share = "<p>（一）2023年度计划</p>";</script>
</head><body>
<div class="top"><ul class="nav"><li><a href="/">首页</a></li><li><a href="/zwgk/">政务公开</a></li></ul></div>
<div class="position">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt; 通知公告</div>
<div class="info">发布时间：2023-05-08 09:30 &nbsp;&nbsp; 来源：区管委会办公室 【字体：<a>大</a> <a>中</a> <a>小</a>】</div>
{body}
<div class="bottom">【<a href="javascript:window.print()">打印本页</a>】 【<a href="javascript:window.close()">关闭窗口</a>】</div>
<div class="footer">主办单位：泉州台商投资区管理委员会 &nbsp; 闽ICP备00000000号<br/>电话：0595-00000000</div>
</body></html>"""


def _blink_archive(page: bytes, part_charset: str | None = None) -> bytes:
    """`page` as Chromium's "web page, single file" writes it (MIME multipart/related, quoted-printable)."""
    content_type = "text/html" + (f"; charset={part_charset}" if part_charset else "")
    encoded = quopri.encodestring(page).decode("ascii").replace("\n", "\r\n")
    return (
        "From: <Saved by Blink>\r\n"
        "Snapshot-Content-Location: http://www.example.gov.cn/zwgk/tzgg/202305/t20230508_1.htm\r\n"
        "Subject: =?utf-8?Q?=E9=80=9A=E7=9F=A5?=\r\n"
        "Date: Mon, 8 May 2023 10:00:00 +0800\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/related;\r\n\ttype="text/html";\r\n\tboundary="----MultipartBoundary--x----"\r\n'
        "\r\n\r\n"
        "------MultipartBoundary--x----\r\n"
        f"Content-Type: {content_type}\r\n"
        "Content-ID: <frame-1@mhtml.blink>\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "Content-Location: http://www.example.gov.cn/zwgk/tzgg/202305/t20230508_1.htm\r\n"
        f"\r\n{encoded}\r\n\r\n"
        "------MultipartBoundary--x------\r\n"
    ).encode("ascii")


def test_libreoffices_html_export_gives_the_bundled_notice(bundled: Plan) -> None:
    assert 'content="LibreOffice 7.4' in EXPORTED.read_text(encoding="utf-8")
    plan = parse_notice(EXPORTED)
    assert_same_notice(plan, bundled)
    assert plan.document.source_format == "html"
    assert plan.projects[0].source_ref == "table 1 row 2"


@pytest.mark.parametrize(("layout_tables", "name"), [(False, "t20230508_1.htm"), (True, "通知.doc")])
def test_the_page_as_a_government_site_serves_it_gives_the_bundled_notice(
    layout_tables: bool, name: str, tmp_path: Path, bundled: Plan
) -> None:
    # Named .doc: office systems export "Word" files that are web pages, which Word opens all the same.
    path = tmp_path / name
    path.write_bytes(_site_page(_body(), layout_tables).encode("gb2312"))
    assert_same_notice(parse_notice(path), bundled)


@pytest.mark.parametrize("part_charset", [None, "utf-8"])
def test_the_page_saved_as_a_single_file_gives_the_bundled_notice(
    part_charset: str | None, tmp_path: Path, bundled: Plan
) -> None:
    page = _site_page(_body())
    # Re-encoded in the charset the part's header names, the page keeps the one it was served in.
    data = page.encode(part_charset or "gb2312")
    path = tmp_path / "通知.mhtml"
    path.write_bytes(_blink_archive(data, part_charset))
    assert_same_notice(parse_notice(path), bundled)


def test_an_archive_whose_page_is_not_in_the_charset_it_names_is_refused_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "通知.mht"
    path.write_bytes(_blink_archive(_site_page(_body()).encode("gb2312"), "utf-8"))
    with pytest.raises(RegreenError) as raised:
        parse_notice(path)
    assert "the page is not in the utf-8 it names" in str(raised.value)
