"""Masking of findings for analysts: ID numbers keep their first and last four characters, names
their first; evidence nested in lists and objects is masked too, other fields are not."""

from dz_assets.rules.masking import mask_finding, mask_id, mask_name


def test_id_and_name_rules():
    assert mask_id("511702198001011234") == "5117**********1234"
    assert mask_id("51170219800101123X") == "5117**********123X"
    assert mask_id("") == "" and mask_id(None) is None
    assert mask_name("张三丰") == "张**"
    assert mask_name("李") == "李"


def test_finding_columns_and_evidence_are_masked():
    finding = {
        "subject_gmsfhm": "511702198001011234", "subject_xm": "王小明", "subject_dzbm": "511702001H0001",
        "evidence": [
            {"table": "ZDR_GARYJHRXX", "key": {"JHBH": "JH1"},
             "fields": {"BJHRGMSFHM": "511702198001011234", "JHRGMSFHM": "511702195001011230", "JHRXM": "王大"}},
            {"table": "YBSS_SYRKXX", "key": {"SYRKBH": "S1"}, "fields": {"XM": "王小明", "JZDZ_DZBM": "511702001H0001"}},
        ],
    }
    masked = mask_finding(finding)
    assert masked["subject_gmsfhm"] == "5117**********1234" and masked["subject_xm"] == "王**"
    assert masked["subject_dzbm"] == finding["subject_dzbm"]
    guard = masked["evidence"][0]["fields"]
    assert guard == {"BJHRGMSFHM": "5117**********1234", "JHRGMSFHM": "5117**********1230", "JHRXM": "王*"}
    assert masked["evidence"][1]["fields"] == {"XM": "王**", "JZDZ_DZBM": "511702001H0001"}
    assert masked["evidence"][1]["key"] == {"SYRKBH": "S1"}
    assert finding["subject_xm"] == "王小明"  # the input is left alone
