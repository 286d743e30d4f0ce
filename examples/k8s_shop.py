"""A namespace with a quota, a web Deployment behind a Service, and its configuration, on any cluster.

    python -m harmony_py plan examples/k8s_shop.py     # diff against the live objects
    python -m harmony_py apply examples/k8s_shop.py    # server-side apply, waits for the rollout

The cluster is the one kubectl uses: $KUBECONFIG or ~/.kube/config (HARMONY_K8S_CONTEXT picks a context).
"""

import os

from harmony_py import Maestro
from harmony_py.scores import K8sDeploymentScore, K8sResourceScore, NamespaceScore
from topologies import K8sAnywhereTopology

CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-settings
  namespace: shop
data:
  currency: EUR
"""

maestro = Maestro(K8sAnywhereTopology(context=os.environ.get("HARMONY_K8S_CONTEXT"))).add(
    NamespaceScore("shop", {"team": "web"}, quota={"pods": "20"}),
    K8sResourceScore(CONFIG),
    K8sDeploymentScore("web", "shop", "nginx:1.27", replicas=2, port=80, health_path="/"),
)
