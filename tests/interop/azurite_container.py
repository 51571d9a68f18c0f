#!/usr/bin/env python3
"""Makes a fresh container in Azurite and prints its URL and a SAS token for it (read, write, create; one hour),
separated by a space.

  python azurite_container.py BLOB_ENDPOINT [CA_PEM]
"""
import datetime
import sys
import uuid

from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

# Azurite's well-known development account (public, documented with the emulator).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def main():
    endpoint = sys.argv[1].rstrip("/")
    verify = sys.argv[2] if len(sys.argv) > 2 else True
    service = BlobServiceClient(endpoint, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY},
                                connection_verify=verify)
    name = "backups-" + uuid.uuid4().hex[:8]
    service.create_container(name)
    sas = generate_container_sas(
        ACCOUNT, name, account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, write=True, create=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )
    print(f"{endpoint}/{name} {sas}")


if __name__ == "__main__":
    main()
