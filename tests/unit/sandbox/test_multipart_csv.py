from service.devkit.sandbox.custom import parse_multipart, read_csv

CT = b"multipart/form-data; boundary=XyZ"


def test_parse_multipart_fields_and_files() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="business"\r\n\r\n1\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="template"\r\n\r\nHi {name}\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="csv_file"; filename="c.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\ncontact,name\r\n233558544343,Ama\r\n\r\n"
        b"--XyZ--\r\n"
    )
    form = parse_multipart(body, CT)
    assert form is not None
    assert form.fields == {"business": "1", "template": "Hi {name}"}
    assert form.files == {"csv_file": b"contact,name\r\n233558544343,Ama\r\n"}


def test_parse_multipart_quoted_boundary_and_junk() -> None:
    body = b'--a b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--a b--'
    form = parse_multipart(body, b'multipart/form-data; boundary="a b"')
    assert form is not None
    assert form.fields == {"x": "1"}
    assert parse_multipart(b"no parts here", CT) is None
    assert parse_multipart(body, b"multipart/form-data") is None
    assert parse_multipart(b"--XyZ\r\nno blank line--XyZ--", CT) is None


def test_read_csv_rows_bom_and_blank_lines() -> None:
    rows, errors = read_csv("\ufeffcontact, name \n233558544343,Ama\n\n,\n".encode(), ["name"])
    assert errors == []
    assert rows == [{"contact": "233558544343", "name": "Ama"}]


def test_read_csv_errors() -> None:
    assert read_csv(b"\xff\xfe", []) == ([], ["File must be UTF-8 encoded."])
    assert read_csv(b"phone,name\n1,2\n", []) == ([], ["CSV file must include a 'contact' column."])
    assert read_csv(b"contact\n233558544343\n", ["name", "order_id"]) == (
        [],
        ["CSV file is missing columns for template variables: name, order_id."],
    )
    assert read_csv(b"contact,name\n", ["name"]) == (
        [],
        ["CSV file must contain at least one data row."],
    )
