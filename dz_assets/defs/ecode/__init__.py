"""The daily QR batch for sign making (group ``ecode``): one partition per delivery day D."""
