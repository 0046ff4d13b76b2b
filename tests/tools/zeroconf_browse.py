"""An independent mDNS browser (python-zeroconf, not the box's mdns-sd) for the discovery test:
prints `found NAME ADDRESSES PORT TXT-as-JSON` and `withdrawn NAME` lines for _tongka._tcp, for
as many seconds as its argument says."""

import json
import sys
import time

from zeroconf import ServiceBrowser, ServiceListener, Zeroconf

SERVICE = "_tongka._tcp.local."


class Printer(ServiceListener):
    def add_service(self, zc, type_, name):
        info = zc.get_service_info(type_, name, timeout=3000)
        if info is None:
            return
        txt = {k.decode(): (v.decode() if v is not None else None) for k, v in info.properties.items()}
        print("found", name, ",".join(info.parsed_addresses()), info.port, json.dumps(txt), flush=True)

    def remove_service(self, zc, type_, name):
        print("withdrawn", name, flush=True)

    def update_service(self, zc, type_, name):
        pass


zc = Zeroconf()
ServiceBrowser(zc, SERVICE, Printer())
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
zc.close()
