/* GLPK robustness probe for CertusLP's number limits (LinearProgram.maxMagnitude,
   minCoefficientMagnitude) and for leaving GLPK's MIP presolver off (LPOptions.integer).

   Each trial builds a random problem with 2 to 1+maxn rows and columns: constraint and
   objective coefficients of magnitude in [L, U], finite bounds of magnitude in [1e-3, B]
   (log-uniform, random signs; with "edge", half of the draws exactly at the ends), then solves
   it in a child process (fork) as CertusLP would, and counts children that died (GLPK calls
   abort() on internal errors):
     mode 0: LP: glp_scale_prob(GLP_SF_AUTO), dual simplex, glp_adv_basis + dual simplex,
             glp_std_basis + primal simplex;
     mode 1: MILP (half the columns binary) by glp_intopt with its presolver;
     mode 2: the same MILPs as mode 1, by scaling + dual simplex, then glp_intopt without
             presolver (what LinearProgram.solve does).
   Build: gcc -O1 -o glpk-probe scripts/glpk-probe.c -lglpk -lm
   Run:   ./glpk-probe L U B trials mode [edge [maxn]]
   e.g.   ./glpk-probe 1e-60 1e60 1e60 30000 0 edge 12    (0 aborts with GLPK 5.0)
          ./glpk-probe 1e-100 1e100 1e100 4000 0 edge     (1 abort: spychuzc.c teta >= 0.0)
          ./glpk-probe 1e-6 1e6 1e6 8000 1 edge 12        (20 aborts: npp3.c q->lb < q->ub)
          ./glpk-probe 1e-6 1e6 1e6 8000 2 edge 12        (0 aborts) */
#include <fcntl.h>
#include <glpk.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <unistd.h>
#include <sys/wait.h>
static double urand(void){ return rand()/(RAND_MAX+1.0); }
static int edge=0; static int maxn=5; static double logu(double lo, double hi){ double a=log10(lo), b=log10(hi); if(edge && rand()%2) return (rand()%2?lo:hi)*(urand()<0.5?-1:1); return pow(10, a+(b-a)*urand()) * (urand()<0.5?-1:1); }
static void trial(double L, double U, double B, int mip){
  glp_term_out(GLP_OFF);
  int n=2+rand()%maxn, m=2+rand()%maxn;
  glp_prob *p=glp_create_prob();
  glp_add_cols(p,n); glp_add_rows(p,m);
  for(int j=1;j<=n;j++){ double a=logu(1e-3<B?1e-3:B,B), b=logu(1e-3<B?1e-3:B,B); if(a>b){double t=a;a=b;b=t;}
    int k=rand()%4; if(a==b) glp_set_col_bnds(p,j,GLP_FX,a,b); else if(k==0) glp_set_col_bnds(p,j,GLP_DB,a,b); else if(k==1) glp_set_col_bnds(p,j,GLP_LO,a,0); else if (k==2 && a<b) glp_set_col_bnds(p,j,GLP_DB,a,b); else glp_set_col_bnds(p,j,GLP_FR,0,0);
    glp_set_obj_coef(p,j,logu(L,U));
    if(mip && rand()%2){ glp_set_col_kind(p,j,GLP_IV); glp_set_col_bnds(p,j,GLP_DB,0,1);} }
  for(int i=1;i<=m;i++){ int ind[64]; double val[64]; int c=0;
    for(int j=1;j<=n;j++) if(rand()%3){ c++; ind[c]=j; val[c]=logu(L,U);} 
    glp_set_mat_row(p,i,c,ind,val);
    double a=logu(1e-3<B?1e-3:B,B), b=logu(1e-3<B?1e-3:B,B); if(a>b){double t=a;a=b;b=t;}
    int k=rand()%3; if(k==0) glp_set_row_bnds(p,i,GLP_UP,0,b); else if(k==1) glp_set_row_bnds(p,i,GLP_LO,a,0); else if(a<b) glp_set_row_bnds(p,i,GLP_DB,a,b); else glp_set_row_bnds(p,i,GLP_FX,a,b); }
  if(mip==2){ glp_scale_prob(p,GLP_SF_AUTO); glp_smcp s; glp_init_smcp(&s); s.msg_lev=GLP_MSG_OFF; s.meth=GLP_DUALP; s.tm_lim=2000; if(glp_simplex(p,&s)==0 && glp_get_status(p)==GLP_OPT){ glp_iocp parm; glp_init_iocp(&parm); parm.msg_lev=GLP_MSG_OFF; parm.presolve=GLP_OFF; parm.tm_lim=2000; glp_intopt(p,&parm); glp_delete_prob(p); _exit(3);} } else if(mip){ glp_iocp parm; glp_init_iocp(&parm); parm.msg_lev=GLP_MSG_OFF; parm.presolve=GLP_ON; parm.tm_lim=2000; glp_intopt(p,&parm); }
  else { glp_scale_prob(p,GLP_SF_AUTO);
    for(int at=0;at<3;at++){ glp_smcp s; glp_init_smcp(&s); s.msg_lev=GLP_MSG_OFF; s.meth= at==2?GLP_PRIMAL:GLP_DUALP; s.tm_lim=2000;
      if(at==1) glp_adv_basis(p,0); if(at==2) glp_std_basis(p);
      glp_simplex(p,&s); }
    /* MILP fallback path: relaxation solved, intopt without presolve */
  }
  glp_delete_prob(p);
}
int main(int argc,char**argv){
  double L=atof(argv[1]), U=atof(argv[2]), B=atof(argv[3]); int N=atoi(argv[4]); int mip=atoi(argv[5]); edge=argc>6; if(argc>7) maxn=atoi(argv[7]);
  int crashes=0, reached=0;
  for(int t=0;t<N;t++){ pid_t pid=fork(); if(pid==0){ srand(t*7919+(mip?1:0)); int fd=open("/dev/null",1); dup2(fd,1); dup2(fd,2); trial(L,U,B,mip); _exit(0);} int st; waitpid(pid,&st,0); if(WIFEXITED(st)&&WEXITSTATUS(st)==3) reached++; else if(!WIFEXITED(st)||WEXITSTATUS(st)!=0){ crashes++; if(crashes<=3) fprintf(stderr,"trial %d crashed\n",t);} }
  printf("L=%g U=%g B=%g mip=%d: %d/%d crashed, %d reached intopt\n",L,U,B,mip,crashes,N,reached);
}
