"""The SSO sign-in APIs as botocore speaks them, run by tests/it/botocore.rs.

Each step prints one JSON object on standard output; any failure raises (exit status 1).

  register-and-start URL      boto3.client("sso-oidc") with an endpoint override:
                              RegisterClient, then StartDeviceAuthorization
  token URL JSON              CreateToken with the device code of JSON (the first step's
                              output), then boto3.client("sso") ListAccounts and
                              ListAccountRoles with the access token
  profile PROFILE             boto3.Session(profile_name=PROFILE).client("sts")
                              .get_caller_identity(): botocore reads the sso-session token
                              cache (HOME and AWS_CONFIG_FILE come from the environment) and
                              calls GetRoleCredentials itself
"""

import json
import sys

import boto3
import botocore


def clients(url):
    session = boto3.Session(region_name="eu-central-1")
    oidc = session.client("sso-oidc", endpoint_url=url + "/sso-oidc")
    portal = session.client("sso", endpoint_url=url + "/sso")
    return oidc, portal


def register_and_start(url):
    oidc, _ = clients(url)
    client = oidc.register_client(clientName="botocore-check", clientType="public")
    start = oidc.start_device_authorization(
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        startUrl=url,
    )
    return {
        "clientId": client["clientId"],
        "clientSecret": client["clientSecret"],
        "deviceCode": start["deviceCode"],
        "userCode": start["userCode"],
        "verificationUriComplete": start["verificationUriComplete"],
        "interval": start["interval"],
        "botocore": botocore.__version__,
    }


def token(url, started):
    oidc, portal = clients(url)
    try:
        oidc.create_token(
            clientId=started["clientId"],
            clientSecret="not-" + started["clientSecret"],
            grantType="urn:ietf:params:oauth:grant-type:device_code",
            deviceCode=started["deviceCode"],
        )
        raise AssertionError("a wrong client secret got a token")
    except oidc.exceptions.InvalidClientException:
        pass
    tokens = oidc.create_token(
        clientId=started["clientId"],
        clientSecret=started["clientSecret"],
        grantType="urn:ietf:params:oauth:grant-type:device_code",
        deviceCode=started["deviceCode"],
    )
    accounts = portal.list_accounts(accessToken=tokens["accessToken"])["accountList"]
    roles = []
    for account in accounts:
        listed = portal.list_account_roles(
            accessToken=tokens["accessToken"], accountId=account["accountId"]
        )
        roles += [r["roleName"] for r in listed["roleList"]]
    try:
        portal.list_accounts(accessToken=tokens["refreshToken"])
        raise AssertionError("a refresh token was taken as an access token")
    except portal.exceptions.UnauthorizedException:
        pass
    return {
        "tokenType": tokens["tokenType"],
        "expiresIn": tokens["expiresIn"],
        "hasRefreshToken": bool(tokens.get("refreshToken")),
        "accounts": [a["accountId"] for a in accounts],
        "roles": sorted(roles),
    }


def profile(name):
    sts = boto3.Session(profile_name=name).client("sts")
    identity = sts.get_caller_identity()
    return {"arn": identity["Arn"], "account": identity["Account"]}


def main(argv):
    step = argv[1]
    if step == "register-and-start":
        out = register_and_start(argv[2])
    elif step == "token":
        out = token(argv[2], json.loads(argv[3]))
    elif step == "profile":
        out = profile(argv[2])
    else:
        raise SystemExit("unknown step " + step)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
