"""Bounded reads, names as data, masked personal data: the pieces the poison-inbox tests rely on."""

from __future__ import annotations

import io
import os
import random
import re
import zipfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from regreen.submissions.names import NAME_BYTES, display_name, safe_name
from regreen.submissions.personal import mask_personal
from regreen.submissions.reader import ReadLimits, read_table
from regreen.submissions.validate import MORE_ISSUES, validate_file

TODAY = date(2024, 4, 20)
LIMITS = ReadLimits.from_config()


def far_cell_workbook(path: Path, *, keep_dimension: bool) -> None:
    """A workbook with a cell at XFD1048576; without its <dimension>, only the cell itself says so."""
    workbook = openpyxl.Workbook()
    workbook.active.title = "月度进展"
    workbook.active["A1"] = "填报月份"
    workbook.active["XFD1048576"] = "x"
    buffer = io.BytesIO()
    workbook.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml" and not keep_dimension:
                data = re.sub(rb"<dimension [^>]*/>", b"", data)
                assert b"XFD1048576" in data and b"dimension" not in data
            target.writestr(info, data)


@pytest.mark.parametrize("keep_dimension", [True, False])
def test_a_far_cell_is_refused_before_the_reader_allocates(tmp_path, reference, keep_dimension):
    path = tmp_path / "bomb.xlsx"
    far_cell_workbook(path, keep_dimension=keep_dimension)
    report = validate_file(path, reference, TODAY)
    [issue] = report.errors
    assert (issue.code, report.status) == ("sheet_too_large", "rejected")
    assert "1048576 行 × 16384 列" in issue.message_zh


def test_a_large_but_legal_workbook_is_read_whole(tmp_path, files, reference):
    rows = files.rows_for_month() * 2500  # 5,000 rows under a 20-column header
    path = files.write("big.xlsx", rows)
    table = read_table(path, LIMITS)
    assert len(table.row_numbers) == 5000 and table.row_numbers[-1] == 5001
    # The same file under a row limit below its size is refused, unread.
    report = validate_file(path, reference, TODAY, limits=replace(LIMITS, max_rows=1000))
    assert [i.code for i in report.errors] == ["sheet_too_large"]


def test_size_row_and_column_limits_of_a_csv(tmp_path, files, reference):
    path = files.write("s.csv", files.rows_for_month() * 30)
    assert validate_file(path, reference, TODAY).rows_read == 60
    small = replace(LIMITS, max_file_bytes=path.stat().st_size - 1)
    assert [i.code for i in validate_file(path, reference, TODAY, limits=small).errors] == ["file_too_large"]
    few_rows = replace(LIMITS, max_rows=10)
    assert [i.code for i in validate_file(path, reference, TODAY, limits=few_rows).errors] == [
        "too_many_rows"
    ]
    narrow = replace(LIMITS, max_columns=5)
    assert [i.code for i in validate_file(path, reference, TODAY, limits=narrow).errors] == [
        "too_many_columns"
    ]


def test_issues_beyond_the_limit_are_counted_in_one_summary(files, reference):
    path = files.write("s.csv", files.rows_for_month(area_done_mu="约120") * 40)
    every = validate_file(path, reference, TODAY, max_issues=10_000)
    found = len(every.errors)
    assert found >= 80 and every.errors_omitted == 0
    report = validate_file(path, reference, TODAY, max_issues=10)
    assert report.errors[:10] == every.errors[:10]
    assert len(report.errors) == 11 and report.errors[-1].code == MORE_ISSUES
    assert (report.errors_omitted, report.error_count) == (found - 10, found)
    summary = report.errors[-1]
    assert f"另有 {found - 10} 个问题" in summary.message_zh and "number_invalid × " in summary.message_en
    assert report.to_json_dict()["error_count"] == found


def test_a_footer_line_of_personal_data_is_masked_everywhere_it_is_quoted(files, reference):
    # Not a sign-off (it opens with 说明), so read as a row and quoted; a sign-off is not read at all.
    footer = "说明：填报人：张三 联系电话：13812345678"
    path = files.write("s.csv", files.rows_for_month(), trailer=[footer])
    report = validate_file(path, reference, TODAY)
    text = report.render() + str(report.to_json_dict())
    assert "张三" not in text and "13812345678" not in text
    assert "填报人：＊＊ 联系电话：＊＊＊＊＊＊＊＊＊＊＊" in text
    # Rows keep the reporter and phone: they land in the landing zone only.
    assert "林小梅" in set(report.rows["reporter"])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("联系人:李四,电话 0595-22345678", "联系人:＊＊,电话 ＊＊＊＊＊＊＊＊＊＊＊＊＊"),
        ("区号 0595-22345678", "区号 ＊＊＊＊-＊＊＊＊＊＊＊＊"),  # masked as a landline, keeping its shape
        ("身份证350524199001011234", "身份证＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊"),
        ("+86 138-1234-5678", "+＊＊ ＊＊＊-＊＊＊＊-＊＊＊＊"),
        ("手机 138 1234 5678", "手机 ＊＊＊ ＊＊＊＊ ＊＊＊＊"),  # not only the 138 the label points at
        ("手机 ＊＊＊ 1234 5678", "手机 ＊＊＊ ＊＊＊＊ ＊＊＊＊"),  # what an older masking left of it
        ("2024-03", "2024-03"),
        ("126.2", "126.2"),
        ("约20", "约20"),
    ],
)
def test_mask_personal(text, masked):
    assert mask_personal(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("回电 138 1234 5678", "回电 ＊＊＊ ＊＊＊＊ ＊＊＊＊"),
        ("请回电13812345678", "请回电＊＊＊＊＊＊＊＊＊＊＊"),
        ("座机0595 2234567", "座机＊＊＊＊ ＊＊＊＊＊＊＊"),
        ("座机010 2234567", "座机＊＊＊ ＊＊＊＊＊＊＊"),
        ("010-2234-5678", "＊＊＊-＊＊＊＊-＊＊＊＊"),
        ("(0595)22345678", "(＊＊＊＊)＊＊＊＊＊＊＊＊"),
        ("办公室（0595）2234-5678", "办公室（＊＊＊＊）＊＊＊＊-＊＊＊＊"),
        ("0595-2234 5678", "＊＊＊＊-＊＊＊＊ ＊＊＊＊"),
        ("旧证350524900101123", "旧证＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊"),
        ("经办人王五", "经办人＊＊"),
        ("请发 zhangsan@163.com", "请发 ＊＊＊＊＊＊＊＊@163.com"),
        ("12345678@qq.com", "＊＊＊＊＊＊＊＊@qq.com"),
        ("邮箱：zhang.san@qq.com", "邮箱：＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊＊"),
        ("微信号: zs_1988", "微信号: ＊＊＊＊＊＊＊"),
        ("QQ：123456789", "QQ：＊＊＊＊＊＊＊＊＊"),
        ("qq 88886666", "qq ＊＊＊＊＊＊＊＊"),
        ("ＱＱ号码 55667788", "ＱＱ号码 ＊＊＊＊＊＊＊＊"),
        ("QQ邮箱 123456@qq.com", "QQ邮箱 ＊＊＊＊＊＊＊＊＊＊＊＊＊"),
        ("手机号：13812345678", "手机号：＊＊＊＊＊＊＊＊＊＊＊"),  # the number masked, not the 号
        ("电话号码：0595-22345678", "电话号码：＊＊＊＊＊＊＊＊＊＊＊＊＊"),
        ("电话联系人：张三", "电话联系人：＊＊"),
        ("填报人联系方式：张三 13812345678", "填报人联系方式：＊＊ ＊＊＊＊＊＊＊＊＊＊＊"),
        ("座机：22345678", "座机：＊＊＊＊＊＊＊＊"),  # a local number, without its area code
        ("固话 2234567", "固话 ＊＊＊＊＊＊＊"),
    ],
)
def test_mask_personal_finds_each_kind_in_each_of_its_forms(text, masked):
    """mask_personal first asks whether a text could hold anything personal; each kind of value it masks
    must pass that question in each of its forms."""
    assert mask_personal(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "电话通知各镇",
        "已微信联系监理",
        "已电话沟通",
        "QQ群通知",
        "微信群：监理群",
        "请发 zs@vip.qq.com 或 QQ群",
        "见 qq.com",
    ],
)
def test_a_label_that_says_how_someone_was_reached_masks_nothing(text):
    """电话 before 通知 is how the towns were told, not a number: the words after such a label are kept."""
    assert mask_personal(text) == text.replace("zs@", "＊＊@")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "第 2 行 「联系电话」 值“13812345678”：格式不对",
            "第 2 行 「联系电话」 值“＊＊＊＊＊＊＊＊＊＊＊”：格式不对",
        ),
        ("表头「手机号」不是模板的列", "表头「手机号」不是模板的列"),  # not 手机 introducing 号
        ("（填报人：张三）", "（填报人：＊＊）"),
        ("姓名(张三)", "姓名(＊＊)"),
        ("联系电话“13812345678”", "联系电话“＊＊＊＊＊＊＊＊＊＊＊”"),
    ],
)
def test_brackets_and_quotes_around_a_label_or_its_word_are_kept(text, masked):
    """A message quoting a header (「联系电话」) names no one after it; a name in brackets keeps them."""
    assert mask_personal(text) == masked


def test_mask_personal_skips_only_texts_its_substitutions_would_leave_alone():
    """On texts made of digits, separators, labels and words, mixed at random, the quick question before
    the substitutions changes no result."""
    from regreen.submissions.personal import _substitute

    pieces = [*"01358Xz+-：()@. ", "86", "填报人", "电话", "身份证号码", "邮箱", "镇", "亩", "2024-03", ".cn"]
    pieces += ["QQ", "qq.com", "通知", "群", "手机号", *"「」（）“"]
    generator = random.Random(20261130)
    texts = ["".join(generator.choices(pieces, k=generator.randint(1, 24))) for _ in range(20_000)]
    changed = [text for text in texts if _substitute(text) != text]
    assert len(changed) > 1_000  # the texts do hold what is masked, not only what is left alone
    assert [mask_personal(text) for text in texts] == [_substitute(text) for text in texts]


def test_names_are_escaped_losslessly_and_written_short():
    gbk = os.fsdecode("张坂镇".encode("gbk") + b"\\x.csv")
    shown = display_name(gbk)
    assert shown == "\\xd5\\xc5\\xdb\\xe0\\xd5\\xf2\\\\x.csv"
    assert display_name("a\x1b[31m\u202eb.csv") == "a\\x1b[31m\\u202eb.csv"
    assert display_name("张坂镇-2024-03.csv") == "张坂镇-2024-03.csv"
    long = safe_name("张坂镇" * 40 + ".xlsx")
    assert long.endswith(".xlsx") and len(long.encode()) <= NAME_BYTES
    assert safe_name(".hidden.csv") == "_hidden.csv"


def test_a_name_holding_personal_data_is_shown_masked_with_its_suffix():
    assert display_name("张坂镇-2024-03-13812345678.csv") == "张坂镇-2024-03-＊＊＊＊＊＊＊＊＊＊＊.csv"
    assert display_name("3月进展（填报人张三）.xlsx") == "3月进展（填报人＊＊）.xlsx"
    assert display_name("填报人张三.xlsx") == "填报人＊＊.xlsx"  # not 填报人＊＊＊＊＊＊＊
    assert safe_name("张坂镇-13812345678.csv") == "张坂镇-＊＊＊＊＊＊＊＊＊＊＊.csv"
    assert display_name("张坂镇-2024-03-月度进展.csv") == "张坂镇-2024-03-月度进展.csv"


def test_a_workbook_unpacking_past_the_limit_is_refused(files, reference):
    path = files.write("s.xlsx", files.rows_for_month())
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    assert validate_file(
        path, reference, TODAY, limits=replace(LIMITS, max_unpacked_bytes=unpacked)
    ).status == (validate_file(path, reference, TODAY).status)
    tight = replace(LIMITS, max_unpacked_bytes=unpacked - 1)
    [issue] = validate_file(path, reference, TODAY, limits=tight).errors
    assert issue.code == "file_too_large" and f"{unpacked - 1}" in issue.message_en
