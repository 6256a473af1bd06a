"""Reading submission files: sheets, encodings, titles, headers as clerks write them, unreadable files."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904
from openpyxl.worksheet.table import Table

from regreen.submissions.columns import COLUMNS, match_header
from regreen.submissions.reader import _plain_cells
from regreen.submissions.validate import validate_file

TODAY = date(2024, 4, 20)


@pytest.mark.parametrize(
    ("written", "key", "factor"),
    [
        ("累计治理面积(亩)", "area_done_mu", 1.0),
        ("累计治理面积（公顷）", "area_done_mu", 15.0),
        ("累计治理\n面积\n(平方米)", "area_done_mu", 0.0015),
        ("  其中林地 ( ha ) ", "forest_mu", 15.0),
        ("其中草地(㎡)", "grassland_mu", 0.0015),
        ("area_done_mu", "area_done_mu", 1.0),
        ("Report_Month", "report_month", 1.0),
        ("project", "project_name", 1.0),
        ("累计完成投资（万元）", "invested_10k_yuan", 1.0),
        ("废石处置量(万立方米)", "waste_rock_10k_m3", 1.0),
        ("联系电话", "phone", 1.0),
    ],
)
def test_headers_as_clerks_write_them(written, key, factor):
    match = match_header(written)
    assert match is not None and match.problem_zh is None
    assert (match.column.key, match.factor) == (key, factor)
    assert "\n" not in match.written


@pytest.mark.parametrize("written", ["累计治理面积(平方公里)", "累计完成投资(元)", "乡镇(名称)"])
def test_headers_with_a_wrong_unit(written):
    match = match_header(written)
    assert match is not None and match.problem_zh and match.problem_en


@pytest.mark.parametrize("written", ["序号", "面积", "", None, 2024])
def test_headers_that_name_no_column(written):
    assert match_header(written) is None


def test_english_and_untidy_headers_are_read(files, reference):
    headers = {c.key: c.alias for c in COLUMNS}
    headers |= {
        "report_month": " 填报月份 ",
        "area_done_mu": "累计治理\n面积（亩）",
        "invested_10k_yuan": "累计完成投资（万元）",
        "township": "Township",
    }
    rows = files.rows_for_month()
    rows[0]["area_done_mu"] = "约120"
    report = validate_file(files.write("s.xlsx", rows, headers=headers), reference, TODAY)
    assert [(i.code, i.row, i.column, i.value) for i in report.errors] == [
        ("number_invalid", 2, "累计治理面积（亩）", "约120")
    ]
    assert report.rows.iloc[1]["invested_10k_yuan"] == 250
    assert report.rows.iloc[1]["township"] == "百崎乡"


def test_the_progress_sheet_is_picked_over_the_first(files, reference):
    path = files.write("s.xlsx", files.rows_for_month(), sheet="月度进展", sheet_before="封面")
    report = validate_file(path, reference, TODAY)
    assert (report.status, report.sheet, report.rows_read) == ("accepted", "月度进展", 2)


def test_without_a_progress_sheet_the_first_is_read(files, reference):
    path = files.write("s.xlsx", files.rows_for_month(), sheet="Sheet1")
    workbook = openpyxl.load_workbook(path)
    workbook.create_sheet("其他").append(["无关"])
    workbook.save(path)
    report = validate_file(path, reference, TODAY)
    assert (report.status, report.sheet) == ("accepted", "Sheet1")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(files, reference, encoding):
    path = files.write("s.csv", files.rows_for_month(), encoding=encoding, title="百崎乡月度进展")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    if encoding.startswith("gb"):
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    report = validate_file(path, reference, TODAY)
    assert (report.status, report.sheet) == ("accepted", None)
    assert list(report.rows["project_name"]) == [
        "百崎乡莲埭村废弃矿山生态治理项目",
        "百崎莲埭、下埭村废弃矿山生态治理项目",
    ]
    assert list(report.rows["row_number"]) == [3, 4]


def test_csv_line_numbers_count_blank_lines_and_titles(files, reference):
    path = files.write("s.csv", files.rows_for_month(), title="标题")
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(1, "第二行标题")
    lines.insert(4, "")  # a blank line between the two data rows
    lines[5] = lines[5].replace("施工中", "进行中")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_file(path, reference, TODAY)
    assert [(i.code, i.row, i.value) for i in report.errors] == [("stage_invalid", 6, "进行中")]
    assert report.rows_read == 2


def test_csv_with_old_mac_line_ends_is_read_line_by_line(files, reference):
    path = files.write("s.csv", files.rows_for_month(), title="标题")
    text = path.read_text(encoding="utf-8").replace("\r\n", "\r").replace("施工中", "进行中", 1)
    path.write_bytes(text.encode("utf-8"))
    report = validate_file(path, reference, TODAY)
    assert [(i.code, i.row, i.value) for i in report.errors] == [("stage_invalid", 3, "进行中")]
    assert report.rows_read == 2


FUND_HEADERS = ("上级", "区财政", "废石处置收入", "社会")  # how the four fund columns' names begin


def _beside_plain(files, reference, name):
    """The report on the month's plain workbook, and a copy of it to reshape: (report, path, workbook,
    its 月度进展 sheet)."""
    rows = files.rows_for_month()
    plain = validate_file(files.write("plain.xlsx", rows), reference, TODAY)
    path = files.write(name, rows)
    workbook = openpyxl.load_workbook(path)
    return plain, path, workbook, workbook["月度进展"]


def test_a_month_and_township_merged_down_their_rows_read_on_every_row(files, reference):
    # As Chinese reports are laid out: the month and the township written once, merged over the rows
    # of the township's projects (Excel keeps the value in the top cell only); the project names
    # merged across two columns read as one value, not copied into the next column.
    plain, path, workbook, sheet = _beside_plain(files, reference, "merged.xlsx")
    for column in ("A", "B"):  # 填报月份, 乡镇
        sheet[f"{column}3"].value = None
        sheet.merge_cells(f"{column}2:{column}3")
    notes = [c.column_letter for c in sheet[1] if c.value == "备注"][0]
    sheet[f"{notes}2"].value = "同上月"
    following = openpyxl.utils.get_column_letter(sheet[f"{notes}2"].column + 1)
    sheet.merge_cells(f"{notes}2:{following}2")
    workbook.save(path)

    merged = validate_file(path, reference, TODAY)

    assert (merged.status, merged.rows_read, merged.errors) == ("accepted", 2, [])
    assert list(merged.rows["report_month"]) == list(plain.rows["report_month"])
    assert list(merged.rows["township"]) == ["百崎乡", "百崎乡"]
    assert plain.rows["notes"].isna().tolist() == [True, True]
    assert merged.rows["notes"].tolist()[0] == "同上月"
    assert merged.rows["notes"].isna().tolist() == [False, True]
    assert merged.rows.drop(columns="notes").equals(plain.rows.drop(columns="notes"))


def test_a_header_of_two_rows_with_a_group_of_columns_reads_its_second_row_names(files, reference):
    # The funds under one name merged across them (资金来源（万元）), their own names in a second header row,
    # every other header cell merged down over both rows: the data starts on row 3.
    plain, path, workbook, sheet = _beside_plain(files, reference, "two-rows.xlsx")
    names = [cell.value for cell in sheet[1]]
    funds = [n for n, name in enumerate(names, 1) if name and name.startswith(FUND_HEADERS)]
    sheet.insert_rows(2)
    for column, name in enumerate(names, 1):
        if column in funds:
            sheet.cell(2, column).value = name
        elif name:
            sheet.merge_cells(start_row=1, start_column=column, end_row=2, end_column=column)
    sheet.cell(1, funds[0]).value = "资金来源（万元）"
    for column in funds[1:]:
        sheet.cell(1, column).value = None
    sheet.merge_cells(start_row=1, start_column=funds[0], end_row=1, end_column=funds[-1])
    workbook.save(path)

    report = validate_file(path, reference, TODAY)

    assert (report.status, report.rows_read, report.errors) == ("accepted", 2, [])
    assert report.rows.drop(columns="row_number").equals(plain.rows.drop(columns="row_number"))
    assert list(report.rows["row_number"]) == [3, 4]  # as Excel numbers them


def test_a_csv_saved_from_a_two_row_header_reads_its_second_row_names(files, reference):
    # What Excel writes for such a sheet: the group's name over its first column, the names below it.
    rows = files.rows_for_month()
    plain = validate_file(files.write("plain.csv", rows), reference, TODAY)
    path = files.write("two-rows.csv", rows)
    header, *lines = path.read_text(encoding="utf-8").splitlines()
    names = header.split(",")
    funds = [n for n, name in enumerate(names) if name.startswith(FUND_HEADERS)]
    first = [
        "资金来源（万元）" if n == funds[0] else "" if n in funds else name for n, name in enumerate(names)
    ]
    second = [name if n in funds else "" for n, name in enumerate(names)]
    path.write_text("\n".join([",".join(first), ",".join(second), *lines]) + "\n", encoding="utf-8")

    report = validate_file(path, reference, TODAY)

    assert (report.status, report.rows_read, report.errors) == ("accepted", 2, [])
    assert report.rows.drop(columns="row_number").equals(plain.rows.drop(columns="row_number"))
    assert list(report.rows["row_number"]) == [3, 4]


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_the_sign_off_under_the_table_is_not_a_row(files, reference, suffix):
    # As report forms end: the unit and its seal, who filled it in and checked it, the date; in the first
    # column (merged across the sheet in a workbook). The whole file was rejected for it.
    rows = files.rows_for_month()
    plain = validate_file(files.write(f"plain{suffix}", rows), reference, TODAY)
    sign_off = (
        "填报单位（盖章）：百崎乡人民政府    填报人：林小梅 13900000000    审核人：    填报日期：2024年4月3日"
    )
    path = files.write(f"signed{suffix}", rows, trailer=[sign_off])
    if suffix == ".xlsx":
        workbook = openpyxl.load_workbook(path)
        sheet = workbook["月度进展"]
        sheet.merge_cells(start_row=4, start_column=1, end_row=4, end_column=12)
        sheet.cell(5, 1).value = "日期：2024年4月3日"  # and a line of its own under it
        workbook.save(path)

    report = validate_file(path, reference, TODAY)

    assert (report.status, report.rows_read, report.errors) == ("accepted", 2, [])
    assert report.rows.drop(columns="row_number").equals(plain.rows.drop(columns="row_number"))
    signed = [(i.row, i.column, i.value) for i in report.warnings if i.code == "sign_off_row"]
    assert signed == ([(4, None, None), (5, None, None)] if suffix == ".xlsx" else [(4, None, None)])
    assert "林小梅" not in report.render() and "13900000000" not in report.render()


def _hidden_first_sheet(workbook, sheet):
    # No 月度进展: a hidden sheet of a drop-down's choices before the data. It was read: "no header".
    sheet.title = "Sheet1"
    workbook.create_sheet("下拉选项", 0).sheet_state = "hidden"


def _progress_in_full_width_brackets(workbook, sheet):
    # Its name extended (月度进展（6月）), a cover before it. The cover was read: "no header".
    sheet.title = "月度进展（6月）"
    workbook.create_sheet("封面", 0).append(["百崎乡 2024年3月"])


@pytest.mark.parametrize("reshape", [_hidden_first_sheet, _progress_in_full_width_brackets])
def test_the_sheet_read_is_the_progress_one_or_the_first_shown(files, reference, reshape):
    plain, path, workbook, sheet = _beside_plain(files, reference, "sheets.xlsx")
    reshape(workbook, sheet)
    workbook.save(path)
    report = validate_file(path, reference, TODAY)
    assert (report.status, report.sheet, report.errors) == ("accepted", sheet.title, [])
    assert report.rows.drop(columns="sheet").equals(plain.rows.drop(columns="sheet"))


def test_a_hidden_progress_sheet_is_refused(files, reference):
    # The clerk copied 月度进展 (Excel names the copy 月度进展 (2)), filled the copy and hid the original:
    # the original was read, last month's figures perhaps, and accepted.
    _, path, workbook, sheet = _beside_plain(files, reference, "hidden.xlsx")
    workbook.copy_worksheet(sheet).title = "月度进展 (2)"
    sheet.sheet_state = "hidden"
    workbook.active = 1
    workbook.save(path)
    issue = _file_issue(validate_file(path, reference, TODAY))
    assert issue.code == "sheet_hidden"
    assert (
        "“月度进展”被隐藏" in issue.message_zh
        and "取消隐藏" in issue.message_zh
        and "Unhide" in issue.message_en
    )


def test_a_table_total_row_and_rows_a_filter_hides_are_read_as_written(files, reference):
    # An Excel table (ListObject) with its total row, which Excel (zh-CN) labels 汇总: it was a data row of
    # month 汇总 and no township. Rows an AutoFilter hides are still the clerk's rows: read.
    plain, path, workbook, sheet = _beside_plain(files, reference, "table.xlsx")
    sheet.append(["汇总", None, None, 15, 180])
    table = Table(displayName="表1", ref="A1:U4", totalsRowCount=1)
    table._initialise_columns()
    table.tableColumns[0].totalsRowLabel = "汇总"
    sheet.add_table(table)
    sheet.auto_filter.ref = "A1:U3"
    sheet.auto_filter.add_filter_column(2, ["百崎乡莲埭村废弃矿山生态治理项目"])
    sheet.row_dimensions[3].hidden = True
    workbook.save(path)
    report = validate_file(path, reference, TODAY)
    assert (report.status, report.rows_read, report.errors, report.warnings) == ("accepted", 2, [], [])
    assert report.rows.equals(plain.rows)


def test_empty_rows_and_trailing_formatting_are_not_rows(files, reference):
    path = files.write("s.xlsx", files.rows_for_month())
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.active
    sheet.cell(40, 5).number_format = "0.00"  # a formatted but empty cell far below
    sheet.cell(10, 1, "   ")
    workbook.save(path)
    report = validate_file(path, reference, TODAY)
    assert (report.status, report.rows_read) == ("accepted", 2)


def _file_issue(report):
    assert report.status == "rejected" and report.rows_read == 0
    assert len(report.errors) == 1
    return report.errors[0]


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("s.xls", b"\xd0\xcf\x11\xe0", "unsupported_file"),
        ("s.txt", "填报月份".encode(), "unsupported_file"),
        ("s.xlsx", b"not a zip", "unreadable_file"),
        ("s.zip", b"PK\x03\x04", "archive"),
        ("s.csv", b"", "empty_file"),
        ("s.csv", "\ufeff填报月份,乡镇".encode("utf-16"), "unreadable_file"),
        ("s.csv", "序号,名称,数量\n1,a,2\n".encode(), "no_header"),
    ],
)
def test_unreadable_files_are_rejected_with_one_file_issue(tmp_path, reference, name, content, code):
    path = tmp_path / name
    path.write_bytes(content)
    issue = _file_issue(validate_file(path, reference, TODAY))
    assert (issue.code, issue.row, issue.column, issue.value) == (code, None, None, None)
    assert issue.message_zh and issue.message_en


WORKBOOKS = Path(__file__).parent / "workbooks"


@pytest.mark.parametrize(
    ("name", "code", "says_zh", "says_en"),
    [
        # encrypted with a password to open it (1234) by msoffcrypto-tool 6.1.0, as Excel 2010+ does
        ("东园镇-2025-06-打开密码.xlsx", "password_protected", "设有打开密码", "has a password to open it"),
        # LibreOffice 7.4's .xls of a sample workbook, saved under .xlsx
        (
            "东园镇-2025-06-xls格式.xlsx",
            "unreadable_file",
            "旧版 Excel 97-2003（.xls）",
            "Excel 97-2003 (.xls) file",
        ),
    ],
)
def test_a_workbook_that_is_not_a_zip_says_what_it_is(reference, name, code, says_zh, says_en):
    # Both are compound files (an .xlsx is a zip): "not a zip file, save it again as .xlsx" did not help
    # the clerk whose workbook has a password, and saving again keeps the password.
    issue = _file_issue(validate_file(WORKBOOKS / name, reference, TODAY))
    assert issue.code == code
    assert says_zh in issue.message_zh and says_en in issue.message_en
    assert "zip" not in issue.message_en


def _web_system_export(files):
    """The month's rows as a web system's "导出 Excel" often gives them: an HTML table saved as .xlsx."""
    lines = list(csv.reader(files.write("month.csv", files.rows_for_month()).open(encoding="utf-8")))
    cells = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in line) + "</tr>" for line in lines)
    return f'<html><head><meta charset="utf-8"></head><body><table border="1">{cells}</table></body></html>'.encode()


@pytest.mark.parametrize(
    ("name", "made", "says_zh", "says_en"),
    [
        # Each was refused as something else: "not a zip file, save it again as .xlsx", and for the CSV
        # file names "cannot decode the file; save the CSV as UTF-8 or GBK".
        ("renamed.xlsx", "csv", "这是 CSV 文本文件，扩展名却是 .xlsx", "a CSV text file named .xlsx"),
        ("导出.xlsx", "web", "这是网页（HTML 表格", "a web page (an HTML table"),
        (
            "renamed.csv",
            "xlsx",
            "这是 Excel 工作簿（.xlsx），扩展名却是 .csv",
            "an Excel workbook (.xlsx) named .csv",
        ),
        ("old.csv", "xls", "Excel 97-2003（.xls）格式的文件，扩展名却是 .csv", "(.xls) file named .csv"),
    ],
)
def test_a_file_named_for_another_format_says_what_it_is(files, reference, name, made, says_zh, says_en):
    rows = files.rows_for_month()
    if made == "csv":
        data = files.write("month.csv", rows).read_bytes()
    elif made == "web":
        data = _web_system_export(files)
    elif made == "xlsx":
        data = files.write("month.xlsx", rows).read_bytes()
    else:  # LibreOffice 7.4's .xls of a sample workbook
        data = (WORKBOOKS / "东园镇-2025-06-xls格式.xlsx").read_bytes()
    path = files.folder / name
    path.write_bytes(data)
    issue = _file_issue(validate_file(path, reference, TODAY))
    assert issue.code == "unreadable_file"
    assert says_zh in issue.message_zh and says_en in issue.message_en


# Formula cells: 累计完成投资 as =K+L+M+N on each row, and a 合计 row of =SUM(…) under 累计治理面积 and it.
FORMULA_CELLS = ("J2", "J3", "E4", "J4")


def _formula_workbook(files):
    """The month's rows with the formulas of FORMULA_CELLS, as openpyxl 3.1.5 writes them: no cached value."""
    path = files.write("公式.xlsx", files.rows_for_month(), trailer=["合计"])
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["月度进展"]
    for row in (2, 3):
        sheet[f"J{row}"] = f"=K{row}+L{row}+M{row}+N{row}"
    sheet["E4"], sheet["J4"] = "=SUM(E2:E3)", "=SUM(J2:J3)"
    workbook.save(path)
    return path


@pytest.mark.parametrize(
    "made_by",
    [
        "openpyxl",
        # xlsxwriter 3.3.1 (write_formula without a value, so it caches 0), in a scratch venv; the same
        # cells as _formula_workbook's
        "百崎乡-2024-03-xlsxwriter公式.xlsx",
    ],
)
def test_formulas_never_calculated_refuse_the_workbook_naming_their_cells(files, reference, made_by):
    # calamine reads a formula's cached value: the investment read blank (openpyxl) or 0 (xlsxwriter) and
    # the file accepted, without a word.
    path = _formula_workbook(files) if made_by == "openpyxl" else WORKBOOKS / made_by
    issue = _file_issue(validate_file(path, reference, TODAY))
    assert (issue.code, issue.row) == ("formula_not_calculated", 2)
    for cell in FORMULA_CELLS:
        assert f"（{cell}）" in issue.message_zh and f"({cell})" in issue.message_en
    assert "第 2 行「累计完成投资(万元)」（J2）" in issue.message_zh
    assert "用 Excel 或 WPS 打开该文件并保存" in issue.message_zh
    assert "Open the file in Excel or WPS" in issue.message_en


def test_formulas_a_spreadsheet_calculated_are_read(reference):
    # A workbook laid out as _formula_workbook's, opened and saved by LibreOffice 7.4 (soffice --headless --convert-to xlsx),
    # which calculated and stored each formula's value, as Excel and WPS do.
    report = validate_file(WORKBOOKS / "百崎乡-2024-03-LibreOffice公式.xlsx", reference, TODAY)
    assert (report.status, report.rows_read, report.errors, report.warnings) == ("accepted", 2, [], [])
    assert list(report.rows["invested_10k_yuan"]) == [250, 250]


def test_dates_of_a_workbook_in_the_1904_date_system_are_its_dates(files, reference):
    # Excel for Mac's option (workbookPr date1904, as openpyxl writes it with the Mac epoch): its serial
    # numbers count days from 1904-01-01. Cells formatted as dates read right already; a serial number in a
    # cell of no date format (a date pasted as a value) was read in the 1900 system, 1462 days early: the
    # acceptance on 2024-03-15 stored as 2020-03-14, without a word.
    rows = files.rows_for_month(report_month=datetime(2024, 3, 1))
    rows[1] |= {"stage": "已验收", "accepted_on": (date(2024, 3, 15) - date(1904, 1, 1)).days}
    path = files.write("1904.xlsx", rows)
    workbook = openpyxl.load_workbook(path)
    workbook.epoch = CALENDAR_MAC_1904
    sheet = workbook["月度进展"]
    for row in (2, 3):  # written again, now counted from 1904
        sheet.cell(row, 1).value = datetime(2024, 3, 1)
        sheet.cell(row, 1).number_format = "yyyy年m月"
    workbook.save(path)

    report = validate_file(path, reference, TODAY)

    assert (report.status, report.errors) == ("accepted", [])
    assert list(report.rows["report_month"]) == [date(2024, 3, 1)] * 2
    assert report.rows["accepted_on"].tolist()[1] == date(2024, 3, 15)


def test_dates_a_web_system_wrote_in_utc_are_refused_not_read_a_day_early(reference):
    # ExcelJS 4.4.0 (npm exceljs) in node 20 under TZ=Asia/Shanghai, as a web system's "导出 Excel" runs in a
    # browser or server in China: ws.columns = [{header, key}, …]; ws.addRows([…]) with 填报月份
    # new Date(2024, 2, 1) and the second project 已验收 on new Date(2024, 2, 15); wb.xlsx.writeFile(). ExcelJS
    # turns a Date into a serial number in UTC: Beijing's midnight is 16:00 of the day before, so the cells
    # hold (and Excel shows) 2024-02-29 and 2024-03-14. They were read so: the month 2024-02, without a word.
    report = validate_file(WORKBOOKS / "百崎乡-2024-03-ExcelJS-4.4-北京时间日期.xlsx", reference, TODAY)

    assert [(i.code, i.row, i.column, i.value) for i in report.errors] == [
        ("date_in_utc", 2, "填报月份", "2024-02-29 16:00:00"),
        ("date_in_utc", 3, "填报月份", "2024-02-29 16:00:00"),
        ("date_in_utc", 3, "验收日期", "2024-03-14 16:00:00"),
    ]
    month, accepted = report.errors[1], report.errors[2]
    assert "北京时间 2024-03-01 0 时" in month.message_zh and "2024-03" in month.message_zh
    assert "midnight of 2024-03-01 in Beijing" in month.message_en
    assert "北京时间 2024-03-15 0 时" in accepted.message_zh
    assert report.warnings == []  # no project of 2024-02 missing: the month is not read


@pytest.mark.parametrize(
    ("name", "first_row"),
    [
        # SheetJS 0.18.5 (npm xlsx) in node 20 under TZ=Asia/Shanghai: XLSX.utils.aoa_to_sheet([[title], header,
        # …rows]) with 填报月份 new Date(2024, 2, 1) and the second project 已验收 on new Date(2024, 2, 15), the
        # title merged across (ws['!merges']), book_append_sheet(wb, ws, 'Sheet1'), XLSX.writeFile(wb, name):
        # inline strings (t="str"), no compression, dates 43 s past midnight (the offset of Beijing's local
        # mean time in 1899, which SheetJS's epoch carries).
        ("百崎乡-2024-03-SheetJS-0.18.5-日期.xlsx", 3),
        # the same library's CSV as a back end sends it: fs.writeFileSync(name, XLSX.utils.sheet_to_csv(
        # XLSX.utils.aoa_to_sheet([header, …rows]))), the month as the text 2024-03: UTF-8 without BOM.
        ("百崎乡-2024-03-SheetJS-0.18.5-sheet_to_csv.csv", 2),
        # ExcelJS 4.4.0: a sheet 月度进展, a title merged across (ws.mergeCells(1, 1, 1, 21)), a bold header,
        # column formats yyyy-mm and yyyy-mm-dd, the dates new Date(Date.UTC(2024, 2, 1)) and
        # Date.UTC(2024, 2, 15), the investment {formula: 'SUM(K3:N3)', result: 250}; wb.xlsx.writeFile(name).
        ("百崎乡-2024-03-ExcelJS-4.4-公式结果.xlsx", 3),
    ],
)
def test_a_month_a_web_system_exported_reads_as_the_same_month_from_excel(files, reference, name, first_row):
    rows = files.rows_for_month()
    if name.endswith(".xlsx"):  # these months report the second project accepted
        rows[1] |= {"stage": "已验收", "accepted_on": datetime(2024, 3, 15)}
    plain = validate_file(files.write("plain.xlsx", rows), reference, TODAY)

    report = validate_file(WORKBOOKS / name, reference, TODAY)

    assert (report.status, report.errors, report.warnings) == ("accepted", [], [])
    assert list(report.rows["row_number"]) == [first_row, first_row + 1]
    unplaced = ["row_number", "sheet"]
    assert report.rows.drop(columns=unplaced).equals(plain.rows.drop(columns=unplaced))


def test_dates_a_csv_export_wrote_as_us_short_dates_say_so(reference):
    # SheetJS 0.18.5 (npm xlsx) in node 20: XLSX.utils.aoa_to_sheet([header, …rows]) with 填报月份
    # new Date(2024, 2, 1) and the second project 已验收 on new Date(2024, 2, 15), then
    # XLSX.writeFile(wb, name, {bookType: 'csv'}): every date in the format of its cell, m/d/yy (3/1/24).
    # The month was refused as having no year ("须含年份"), though 24 is one.
    report = validate_file(WORKBOOKS / "百崎乡-2024-03-SheetJS-0.18.5-日期.csv", reference, TODAY)

    assert [(i.code, i.row, i.column, i.value) for i in report.errors] == [
        ("month_invalid", 2, "填报月份", "3/1/24"),
        ("month_invalid", 3, "填报月份", "3/1/24"),
        ("accepted_on_invalid", 3, "验收日期", "3/15/24"),
    ]
    for issue in report.errors:
        assert "美式短日期" in issue.message_zh and "US short date" in issue.message_en
        assert "须含年份" not in issue.message_zh
    assert "2024-03-15" in report.errors[2].message_zh


def test_a_date_at_16_00_is_read_when_its_month_is_the_same_either_way(files, reference):
    # Only the day is in doubt, and a 填报月份 cell names a month.
    rows = files.rows_for_month(report_month=datetime(2024, 3, 14, 16))
    report = validate_file(files.write("s.xlsx", rows), reference, TODAY)
    assert (report.status, report.errors) == ("accepted", [])
    assert list(report.rows["report_month"]) == [date(2024, 3, 1)] * 2


@pytest.mark.parametrize(
    ("name", "code", "says_zh", "says_en"),
    [
        # LibreOffice 7.4 from the month's workbook: "Text - txt - csv (StarCalc)" with the options 9,34,65535
        # (tabs, UTF-16 LE with its BOM): Excel's "Unicode Text", named .csv. It was "cannot decode".
        ("百崎乡-2024-03-Unicode文本.csv", "unreadable_file", "Excel 的“Unicode 文本”", "Unicode Text"),
        # the same, options 9,34,76 (tabs, UTF-8): a "Text (Tab delimited)" named .csv. It was "no header".
        (
            "百崎乡-2024-03-制表符分隔.csv",
            "not_comma_separated",
            "以制表符而不是逗号分隔",
            "separated by tabs",
        ),
        # options 59,34,76 (semicolons, as where a decimal comma is the custom). It was "no header".
        (
            "百崎乡-2024-03-分号分隔.csv",
            "not_comma_separated",
            "以分号而不是逗号分隔",
            "separated by semicolons",
        ),
        # options 44,34,2 (Mac Roman), its LF turned into CR (tr): Excel for Mac's "CSV (Macintosh)", which
        # writes each Chinese character as ?. It was "no header".
        ("百崎乡-2024-03-CSV(Macintosh).csv", "chinese_lost", "中文都变成了问号", "question marks"),
    ],
)
def test_text_files_of_other_kinds_say_how_to_save_a_csv(reference, name, code, says_zh, says_en):
    issue = _file_issue(validate_file(WORKBOOKS / name, reference, TODAY))
    assert (issue.code, says_zh in issue.message_zh, says_en in issue.message_en) == (code, True, True)
    assert "CSV UTF-8（逗号分隔）" in issue.message_zh and "CSV UTF-8 (Comma delimited)" in issue.message_en


def test_a_gb18030_csv_with_characters_beyond_gbk_is_read(files, reference):
    # As WPS saves GB18030: 𠮷 and 䶮 take four bytes, which GBK has not.
    notes = "𠮷䶮"
    path = files.write("s.csv", files.rows_for_month(notes=notes), encoding="gb18030")
    with pytest.raises(UnicodeEncodeError):
        notes.encode("gbk")
    report = validate_file(path, reference, TODAY)
    assert (report.status, list(report.rows["notes"])) == ("accepted", [notes, notes])


def test_a_missing_file_is_rejected(tmp_path, reference):
    assert _file_issue(validate_file(tmp_path / "nope.xlsx", reference, TODAY)).code == "file_not_found"


def test_a_header_without_rows_is_rejected(files, reference):
    issue = _file_issue(validate_file(files.write("s.csv", []), reference, TODAY))
    assert issue.code == "no_rows"


def test_a_line_with_more_fields_than_the_header(files, reference):
    path = files.write("s.csv", files.rows_for_month(), title="标题")
    path.write_text(path.read_text(encoding="utf-8").replace("林小梅", "林,小梅", 1), encoding="utf-8")
    report = validate_file(path, reference, TODAY)
    assert [(i.code, i.row, i.column, i.value) for i in report.errors] == [("too_many_fields", 3, None, None)]
    assert "小梅" not in report.render()


def test_trailing_empty_fields_are_harmless(files, reference):
    path = files.write("s.csv", files.rows_for_month())
    path.write_text(path.read_text(encoding="utf-8").replace("\r\n", ",,,\r\n"), encoding="utf-8")
    assert validate_file(path, reference, TODAY).status == "accepted"


def test_many_trailing_empty_fields_are_harmless_too(files, reference):
    # An Excel export whose used range reaches far past the header.
    path = files.write("s.csv", files.rows_for_month())
    path.write_text(path.read_text(encoding="utf-8").replace("\r\n", "," * 30 + "\r\n"), encoding="utf-8")
    assert validate_file(path, reference, TODAY).status == "accepted"


def test_a_line_far_wider_than_the_header_refuses_the_file(files, reference):
    path = files.write("s.csv", files.rows_for_month(), title="标题")
    path.write_text(path.read_text(encoding="utf-8").replace("林小梅", "林" + ",x" * 12, 1), encoding="utf-8")
    issue = _file_issue(validate_file(path, reference, TODAY))
    assert (issue.code, issue.row) == ("too_many_fields", 3)
    assert "第 3 行" in issue.message_zh


def test_a_value_beside_the_sheet_only_warns(files, reference):
    path = files.write("s.xlsx", files.rows_for_month())
    workbook = openpyxl.load_workbook(path)
    workbook.active.cell(3, 24, "已核对")
    workbook.save(path)
    report = validate_file(path, reference, TODAY)
    assert report.status == "accepted"
    assert [(i.code, i.row, i.value) for i in report.warnings] == [("unlabelled_value", 3, None)]


def test_header_problems(files, reference):
    headers = {
        "stage": "",
        "forest_mu": "累计治理面积(亩)",
        "grassland_mu": "其中草地(平方公里)",
        "notes": "说明",
    }
    report = validate_file(files.write("s.xlsx", files.rows_for_month(), headers=headers), reference, TODAY)
    assert report.status == "rejected"
    assert sorted((i.code, i.row, i.column) for i in report.errors) == [
        ("bad_unit", 1, "其中草地(平方公里)"),
        ("duplicate_column", 1, "累计治理面积(亩)"),
        ("missing_column", 1, "项目阶段"),
    ]
    assert [(i.code, i.row, i.column) for i in report.warnings] == [
        ("unknown_column", 1, "说明"),
        ("unlabelled_value", 2, None),  # the stages, under an empty header cell
        ("unlabelled_value", 3, None),
    ]
    assert report.rows_read == 2


def test_an_unknown_column_alone_only_warns(files, reference):
    report = validate_file(
        files.write("s.csv", files.rows_for_month(), headers={"notes": "序号"}), reference, TODAY
    )
    assert report.status == "accepted"
    assert [(i.code, i.row, i.column) for i in report.warnings] == [("unknown_column", 1, "序号")]


def test_an_unclosed_quote_names_its_line(files, reference):
    path = files.write("s.csv", files.rows_for_month(), title="标题")
    path.write_text(path.read_text(encoding="utf-8").replace("林小梅", '"林小梅', 1), encoding="utf-8")
    report = validate_file(path, reference, TODAY)
    assert [(i.code, i.row, i.value) for i in report.errors] == [("unclosed_quote", 3, None)]
    assert report.rows_read == 0


@pytest.mark.parametrize(
    "body",
    [
        "2024-03,张坂镇,甲, 1 ,,\r\n2024-03,张坂镇,乙,2,,x\r\n",
        "2024-03,张坂镇,甲,1\n2024-04,张坂镇,甲,\n",
        "a,b,c",  # no line end after the last line
        "a,,\r\n,,\r\n",  # a line of empty fields is a line, not a blank one
        "全角，逗号,ａｂ,\u3000\n x ,y,z\n",
    ],
)
def test_plain_csv_is_split_as_the_csv_module_reads_it(body):
    cells = _plain_cells(body, 10)
    assert cells is not None
    assert cells.T.tolist() == list(csv.reader(io.StringIO(body, newline="")))


@pytest.mark.parametrize(
    "body",
    [
        'a,"b,c",d\n',  # quoted: the csv module reads it
        "a,b\n\na,b\n",  # a blank line is a record of no field
        "a,b\na,b,c\n",  # ragged
        "a,b,c\na,b\n",  # ragged the other way
        "a,b\ra,b\r",  # old Mac line ends
        "a,b\x00\n",
        "a,b,c,d\n",  # wider than allowed
        "",
    ],
)
def test_csv_that_is_not_plain_goes_to_the_csv_module(body):
    assert _plain_cells(body, 3) is None
