"""Cases of the account baseline rules (policy/rules/baseline.py): a trail and a detector that
pass, and the one-property changes that must fail."""

from __future__ import annotations

from tests.policy.cases import KEY, Case, with_

TRAIL = "aws:cloudtrail/trail:Trail"
GOOD_TRAIL = {
    "isMultiRegionTrail": True,
    "enableLogFileValidation": True,
    "kmsKeyId": KEY,
    "cloudWatchLogsGroupArn": "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/cloudtrail/t:*",
    "cloudWatchLogsRoleArn": "arn:aws:iam::123456789012:role/trail-logs",
    "eventSelectors": [{"includeManagementEvents": True, "readWriteType": "All"}],
}

BASELINE_CASES = [
    Case("cloudtrail-multi-region-validated", TRAIL, GOOD_TRAIL,
         [(with_(GOOD_TRAIL, isMultiRegionTrail=False), "records only its own region"),
          ({k: v for k, v in GOOD_TRAIL.items() if k != "isMultiRegionTrail"}, "records only its own region"),
          (with_(GOOD_TRAIL, enableLogFileValidation=False), "does not validate its log files"),
          (with_(GOOD_TRAIL, enableLogging=False), "has logging turned off"),
          (with_(GOOD_TRAIL, eventSelectors=[{"includeManagementEvents": False}]), "leaves management events out"),
          (with_(GOOD_TRAIL, eventSelectors=[{"readWriteType": "WriteOnly"}]), "records only WriteOnly management events")]),
    Case("cloudtrail-encrypted", TRAIL, GOOD_TRAIL,
         [(with_(GOOD_TRAIL, kmsKeyId=""), "is not encrypted with a KMS key")]),
    Case("cloudtrail-cloudwatch-logs", TRAIL, GOOD_TRAIL,
         [(with_(GOOD_TRAIL, cloudWatchLogsRoleArn=None), "does not deliver to CloudWatch Logs")]),
    Case("guardduty-detector-enabled", "aws:guardduty/detector:Detector", {"enable": True},
         [({"enable": False}, "is turned off")]),
    # Absent, `enable` is the provider's default: true.
    Case("guardduty-detector-enabled", "aws:guardduty/detector:Detector", {}),
]  # fmt: skip
