"""The SSO portal API as botocore's `sso` client parses it: the two paginators with pages of
one, GetRoleCredentials, the model's errors, Logout. Run by tests/it/sso_portal.rs with the
daemon's endpoint and an access token in the environment; prints what it saw as one JSON
object for the Rust test to check."""

import json
import os

import boto3
from botocore.exceptions import ClientError

sso = boto3.client(
    "sso",
    region_name="eu-central-1",
    endpoint_url=os.environ["STSBRIDGE_SSO_ENDPOINT"],
)
token = os.environ["STSBRIDGE_SSO_TOKEN"]
account = os.environ["STSBRIDGE_SSO_ACCOUNT"]
one_at_a_time = {"PageSize": 1}


def error_of(call):
    try:
        call()
    except ClientError as e:
        return [
            e.response["Error"]["Code"],
            e.response["ResponseMetadata"]["HTTPStatusCode"],
            e.response["Error"]["Message"],
        ]
    return None


seen = {"accounts": [], "roles": []}
for page in sso.get_paginator("list_accounts").paginate(
    accessToken=token, PaginationConfig=one_at_a_time
):
    seen["accounts"] += [[a["accountId"], a["accountName"]] for a in page["accountList"]]
for page in sso.get_paginator("list_account_roles").paginate(
    accessToken=token, accountId=account, PaginationConfig=one_at_a_time
):
    seen["roles"] += [[r["roleName"], r["accountId"]] for r in page["roleList"]]
credentials = sso.get_role_credentials(
    accessToken=token, accountId=account, roleName=seen["roles"][0][0]
)["roleCredentials"]
seen["accessKeyId"] = credentials["accessKeyId"]
seen["expiration"] = credentials["expiration"]
seen["unauthorized"] = error_of(lambda: sso.list_accounts(accessToken="not-a-token"))
seen["not_found"] = error_of(
    lambda: sso.get_role_credentials(
        accessToken=token, accountId=account, roleName="NoSuchRole"
    )
)
seen["invalid"] = error_of(
    lambda: sso.list_accounts(accessToken=token, nextToken="not-a-page-token")
)
sso.logout(accessToken=token)
print(json.dumps(seen))
