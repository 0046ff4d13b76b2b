//! A USB barcode scanner (HID keyboard: each code ends with Enter) and an ESC/POS receipt
//! printer. Matches HID devices and Honeywell's vendor id.

wit_bindgen::generate!({ path: "../../plugin-sdk/wit", world: "device-driver" });

use exports::tongka::plugin::driver::{DriverError, Event, Guest, UsbDevice};

struct Scanner;

const HONEYWELL: u16 = 0x0c2e;
const HID_CLASS: u8 = 3;

impl Guest for Scanner {
    fn matches(device: UsbDevice) -> bool {
        device.vendor_id == HONEYWELL || device.class == HID_CLASS
    }

    fn decode(input: Vec<u8>) -> Result<Vec<Event>, DriverError> {
        let text = core::str::from_utf8(&input)
            .map_err(|_| DriverError::Unreadable("not UTF-8".into()))?;
        Ok(text
            .split(['\r', '\n'])
            .filter(|code| !code.is_empty())
            .map(|code| Event::CardRead(code.to_string()))
            .collect())
    }

    fn encode_receipt(lines: Vec<String>) -> Result<Vec<u8>, DriverError> {
        // ESC @ resets the printer; GS V 0 cuts the paper.
        let mut bytes = vec![0x1b, b'@'];
        for line in &lines {
            if line.contains(['\x1b', '\x1d']) {
                return Err(DriverError::Unreadable(
                    "control bytes in a receipt line".into(),
                ));
            }
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(&[0x1d, b'V', 0]);
        Ok(bytes)
    }
}

export!(Scanner);
